"""The teaching layer: the from-scratch code the book prints, one module per chapter.

Each chapter page displays these functions in full (Sphinx ``literalinclude`` with ``:pyobject:``)
and then calls them, so the code a reader sees is the code that runs. Later chapters import the
functions of earlier ones, as d2l does. Everything here is 2D unless the chapter is about other
dimensions, explicit (loops and slices first, then one vectorised step), and short: a function
fits on a screen and its docstring states shapes.

Generality (N-d, torch's every argument form, error messages) and speed (algorithm choice,
workspaces) live in the rest of ``convlib``; ``tests/test_teaching_*.py`` prove the two equal, and
equal to ``torch.nn.functional``, on values and float64 gradients.

Modules, in reading order:

    ch01_cross_correlation   corr2d, convolve2d, translation equivariance
    ch02_learning_a_kernel   Conv2D (a layer around corr2d), learning a kernel
    ch03_padding_and_stride  pad2d, corr2d with stride and padding
    ch04_channels            multi-input and multi-output channels, batch and bias: conv2d
    ch05_one_by_one          1x1 convolution as a matrix product
    ch06_groups              grouped and depthwise convolution, channel shuffle
    ch07_dilation            dilated convolution
    ch08_transposed          transposed convolution: scatter, C and C^T, multi-channel
    ch09_backward            gradients of conv2d: dX, dK, db
    ch10_im2col              im2col and convolution as one GEMM
    ch11_pooling             max pooling with indices, average, global and adaptive pooling
    ch12_conv1d_3d           conv1d and conv3d
    ch13_spatially_separable rank, SVD factors, two 1D passes
    ch14_deformable          bilinear sampling and deformable convolution
    ch15_large_kernels       convolution through the FFT
    ch16_loops_to_gemm       the speed ladder: windows, Winograd, depthwise shift-add, phases
    ch17_capstone            our layers as autograd Functions, a LeNet that learns the digits
"""
