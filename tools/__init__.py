"""The course's tools: `tools.grading` (the grading runner). Installed with the project
(`pip install -e .`, in `make setup`), so `python -m tools.grading`, `dask scheduler` and
`dask worker` import it from the venv, whatever the working folder."""
