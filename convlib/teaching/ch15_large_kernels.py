"""Chapter 15: large kernels through the FFT: products of spectra, cropped to the valid outputs."""

from __future__ import annotations

import torch

from convlib.teaching.ch03_padding_and_stride import pad2d


def corr2d_fft(X: torch.Tensor, K: torch.Tensor, padding: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Cross-correlation by the FFT. X: (H, W), K: (kh, kw)
    -> Y: (H + 2 ph - kh + 1, W + 2 pw - kw + 1), as corr2d_strided with stride 1."""
    X = pad2d(X, padding)
    (H, W), (kh, kw) = X.shape, K.shape
    # Zero-pad K to X's size so both spectra have the same frequencies.
    X_hat = torch.fft.fft2(X)
    K_hat = torch.fft.fft2(K, s=(H, W))
    # Conjugating K's spectrum flips K: the product is a (circular) correlation, not a convolution.
    Y = torch.fft.ifft2(X_hat * K_hat.conj()).real
    # Outputs past H - kh wrap around the border: crop to the valid ones.
    return Y[: H - kh + 1, : W - kw + 1]


def conv2d_fft(
    X: torch.Tensor, K: torch.Tensor, padding: tuple[int, int] = (0, 0), groups: int = 1
) -> torch.Tensor:
    """conv2d (stride 1) by the FFT. X: (N, C_in, H, W), K: (C_out, C_in/groups, kh, kw)
    -> Y: (N, C_out, H + 2 ph - kh + 1, W + 2 pw - kw + 1)."""
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    (ph, pw), g = padding, groups
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Xp = X.new_zeros(N, C_in, Hp, Wp)  # the zero padding, as pad2d does for one channel
    Xp[:, :, ph : ph + H, pw : pw + W] = X
    # rfft2: a real signal's spectrum is symmetric, so half of it (Wp // 2 + 1 columns) suffices.
    X_hat = torch.fft.rfft2(Xp).reshape(N, g, C_in // g, Hp, Wp // 2 + 1)
    K_hat = torch.fft.rfft2(K, s=(Hp, Wp)).conj().reshape(g, C_out // g, C_in // g, Hp, -1)
    # Per frequency, per group: sum over the group's input channels (a small matrix product).
    Y_hat = torch.einsum("ngchw,gochw->ngohw", X_hat, K_hat).reshape(N, C_out, Hp, -1)
    Y = torch.fft.irfft2(Y_hat, s=(Hp, Wp))
    return Y[:, :, : Hp - kh + 1, : Wp - kw + 1]
