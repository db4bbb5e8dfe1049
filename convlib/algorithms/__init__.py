"""Fast convolution algorithms: the ladder from loops to GEMM speed."""
