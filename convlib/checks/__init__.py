"""Practice checks: a small shared core (``core``) and one module per assignment (``exNN``)."""
