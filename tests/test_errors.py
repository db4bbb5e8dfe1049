"""Every invalid call raises ValueError/TypeError from convlib naming the argument, up front."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import convlib
from convlib import reference

X4 = torch.randn(2, 4, 6, 6)
K4 = torch.randn(6, 2, 3, 3)  # groups=2: weight.shape[1] * groups = 4 input channels

CONV2D = [convlib.conv2d, reference.conv2d]
CONVT2D = [convlib.conv_transpose2d, reference.conv_transpose2d]


def raises(exc: type[Exception], match: str, fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(exc, match=match) as info:
        fn(*args, **kwargs)
    # raised by convlib's own checks, not by torch somewhere deeper
    # (pytest types a traceback entry's path as Path | str; Path() accepts both)
    assert Path(info.traceback[-1].path).parent.name == "convlib", info.traceback[-1].path
    return str(info.value)


# --- conv ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("conv2d", CONV2D)
class TestConv2dErrors:
    def test_input_not_tensor(self, conv2d: Any) -> None:
        raises(TypeError, "input", conv2d, [[1.0]], K4)

    def test_weight_not_tensor(self, conv2d: Any) -> None:
        raises(TypeError, "weight", conv2d, X4, 3)

    def test_bias_not_tensor(self, conv2d: Any) -> None:
        raises(TypeError, "bias", conv2d, X4, K4, [0.0] * 6, groups=2)

    def test_wrong_input_ndim(self, conv2d: Any) -> None:
        msg = raises(ValueError, "input", conv2d, torch.randn(6, 6), K4)
        assert "(N, C_in, H, W)" in msg and "(6, 6)" in msg

    def test_wrong_weight_ndim(self, conv2d: Any) -> None:
        raises(ValueError, "weight", conv2d, X4, torch.randn(6, 4, 3))

    def test_in_channels_mismatch(self, conv2d: Any) -> None:
        msg = raises(ValueError, "in_channels", conv2d, X4, torch.randn(6, 3, 3, 3))
        assert "4" in msg and "3 * 1" in msg

    def test_in_channels_not_divisible_by_groups(self, conv2d: Any) -> None:
        raises(ValueError, "in_channels.*groups=3", conv2d, X4, torch.randn(6, 1, 3, 3), groups=3)

    def test_out_channels_not_divisible_by_groups(self, conv2d: Any) -> None:
        raises(ValueError, "out_channels.*groups=2", conv2d, X4, torch.randn(5, 2, 3, 3), groups=2)

    @pytest.mark.parametrize("groups", [0, -1])
    def test_nonpositive_groups(self, conv2d: Any, groups: int) -> None:
        raises(ValueError, "groups", conv2d, X4, K4, groups=groups)

    def test_groups_not_int(self, conv2d: Any) -> None:
        raises(TypeError, "groups", conv2d, X4, K4, groups=2.0)

    @pytest.mark.parametrize("stride", [0, -1, (1, 0)])
    def test_nonpositive_stride(self, conv2d: Any, stride: Any) -> None:
        raises(ValueError, "stride", conv2d, X4, K4, stride=stride, groups=2)

    @pytest.mark.parametrize("dilation", [0, (0, 1)])
    def test_nonpositive_dilation(self, conv2d: Any, dilation: Any) -> None:
        raises(ValueError, "dilation", conv2d, X4, K4, dilation=dilation, groups=2)

    @pytest.mark.parametrize("padding", [-1, (0, -2)])
    def test_negative_padding(self, conv2d: Any, padding: Any) -> None:
        raises(ValueError, "padding", conv2d, X4, K4, padding=padding, groups=2)

    def test_stride_wrong_length(self, conv2d: Any) -> None:
        raises(ValueError, "stride", conv2d, X4, K4, stride=(1, 2, 3), groups=2)

    def test_stride_not_int(self, conv2d: Any) -> None:
        raises(TypeError, "stride", conv2d, X4, K4, stride=1.5, groups=2)

    def test_kernel_larger_than_padded_input(self, conv2d: Any) -> None:
        msg = raises(
            ValueError,
            "kernel_size",
            conv2d,
            torch.randn(1, 1, 4, 4),
            torch.randn(1, 1, 3, 3),
            dilation=2,
        )
        # says the padded size and the effective kernel size
        assert "= 5" in msg and "= 4" in msg

    def test_same_with_stride(self, conv2d: Any) -> None:
        raises(
            ValueError, "padding='same'.*stride", conv2d, X4, K4, padding="same", stride=2, groups=2
        )

    def test_unknown_padding_string(self, conv2d: Any) -> None:
        raises(ValueError, "padding.*'full'", conv2d, X4, K4, padding="full", groups=2)

    def test_dtype_mismatch(self, conv2d: Any) -> None:
        raises(TypeError, "weight.*dtype", conv2d, X4, K4.double(), groups=2)

    def test_bias_dtype_mismatch(self, conv2d: Any) -> None:
        raises(
            TypeError, "bias.*dtype", conv2d, X4, K4, torch.zeros(6, dtype=torch.float64), groups=2
        )

    def test_device_mismatch(self, conv2d: Any) -> None:
        raises(ValueError, "weight is on meta", conv2d, X4, K4.to("meta"), groups=2)

    def test_bias_shape(self, conv2d: Any) -> None:
        raises(ValueError, r"bias.*\(6,\).*\(4,\)", conv2d, X4, K4, torch.zeros(4), groups=2)

    def test_integer_dtype(self, conv2d: Any) -> None:
        raises(TypeError, "input.*floating", conv2d, X4.long(), K4.long(), groups=2)

    def test_empty_kernel(self, conv2d: Any) -> None:
        raises(ValueError, "kernel size", conv2d, X4, torch.randn(6, 2, 0, 3), groups=2)


@pytest.mark.parametrize(
    ("fn", "input_shape", "weight_shape"),
    [
        (convlib.conv1d, (2, 6, 6), (2, 3, 3)),
        (convlib.conv3d, (2, 6, 6), (2, 3, 3, 3, 3)),
        (convlib.conv_transpose1d, (2, 3, 6, 6), (3, 2, 3)),
        (convlib.conv_transpose3d, (3, 6, 6), (3, 2, 3, 3, 3)),
    ],
)
def test_wrong_ndim_other_dims(
    fn: Any, input_shape: tuple[int, ...], weight_shape: tuple[int, ...]
) -> None:
    raises(ValueError, "input", fn, torch.randn(input_shape), torch.randn(weight_shape))


def test_error_raised_before_computing() -> None:
    # A wrong bias on a huge (meta) input must fail in the checks, without allocating anything.
    X = torch.empty(64, 3, 4096, 4096, device="meta")
    K = torch.empty(8, 3, 3, 3, device="meta")
    raises(ValueError, "bias", convlib.conv2d, X, K, torch.empty(7, device="meta"))


# --- conv_transpose ------------------------------------------------------------------------------

XT = torch.randn(2, 4, 3, 3)
KT = torch.randn(4, 3, 3, 3)  # (in_channels, out_channels/groups, kh, kw)


@pytest.mark.parametrize("conv_transpose2d", CONVT2D)
class TestConvTranspose2dErrors:
    def test_in_channels_mismatch(self, conv_transpose2d: Any) -> None:
        raises(
            ValueError,
            "in_channels.*weight.shape\\[0\\] = 5",
            conv_transpose2d,
            XT,
            torch.randn(5, 3, 3, 3),
        )

    def test_in_channels_not_divisible(self, conv_transpose2d: Any) -> None:
        raises(ValueError, "in_channels.*groups=3", conv_transpose2d, XT, KT, groups=3)

    def test_output_padding_too_large(self, conv_transpose2d: Any) -> None:
        raises(ValueError, "output_padding", conv_transpose2d, XT, KT, stride=2, output_padding=2)

    def test_output_padding_ok_below_dilation(self, conv_transpose2d: Any) -> None:
        # output_padding=1 is allowed with stride 1 because dilation is 2 (torch's rule)
        assert conv_transpose2d(XT, KT, output_padding=1, dilation=2).shape == (2, 3, 8, 8)

    def test_negative_output_padding(self, conv_transpose2d: Any) -> None:
        raises(ValueError, "output_padding", conv_transpose2d, XT, KT, output_padding=-1)

    def test_padding_string(self, conv_transpose2d: Any) -> None:
        raises(TypeError, "padding", conv_transpose2d, XT, KT, padding="same")

    def test_negative_padding(self, conv_transpose2d: Any) -> None:
        raises(ValueError, "padding", conv_transpose2d, XT, KT, padding=-1)

    def test_padding_too_large(self, conv_transpose2d: Any) -> None:
        raises(ValueError, "padding", conv_transpose2d, XT, KT, padding=3)

    def test_bias_shape(self, conv_transpose2d: Any) -> None:
        # out_channels = weight.shape[1] * groups = 3 * 2 = 6
        raises(ValueError, r"bias.*\(6,\)", conv_transpose2d, XT, KT, torch.zeros(3), groups=2)

    def test_stride_zero(self, conv_transpose2d: Any) -> None:
        raises(ValueError, "stride", conv_transpose2d, XT, KT, stride=0)

    def test_dilation_zero(self, conv_transpose2d: Any) -> None:
        raises(ValueError, "dilation", conv_transpose2d, XT, KT, dilation=0)

    def test_groups_zero(self, conv_transpose2d: Any) -> None:
        raises(ValueError, "groups", conv_transpose2d, XT, KT, groups=0)

    def test_dtype_mismatch(self, conv_transpose2d: Any) -> None:
        raises(TypeError, "weight.*dtype", conv_transpose2d, XT, KT.double())

    def test_device_mismatch(self, conv_transpose2d: Any) -> None:
        raises(
            ValueError, "bias is on meta", conv_transpose2d, XT, KT, torch.zeros(3, device="meta")
        )

    def test_integer_dtype(self, conv_transpose2d: Any) -> None:
        raises(TypeError, "input.*floating", conv_transpose2d, XT.int(), KT.int())

    def test_wrong_weight_ndim(self, conv_transpose2d: Any) -> None:
        raises(ValueError, "weight", conv_transpose2d, XT, torch.randn(4, 3, 3))


# --- pad ----------------------------------------------------------------------------------------


def test_pad_unknown_mode() -> None:
    raises(ValueError, "mode.*'mirror'", convlib.pad, X4, (1, 1), mode="mirror")


def test_pad_odd_length() -> None:
    raises(ValueError, "pad.*even", convlib.pad, X4, (1, 1, 1))


def test_pad_too_many_dims() -> None:
    raises(ValueError, "pad", convlib.pad, torch.randn(3), (1, 1, 1, 1))


def test_pad_not_ints() -> None:
    raises(TypeError, "pad", convlib.pad, X4, (1.0, 1))
    raises(TypeError, "pad", convlib.pad, X4, 1)


def test_pad_input_not_tensor() -> None:
    raises(TypeError, "input", convlib.pad, [1.0, 2.0], (1, 1))


def test_reflect_pad_not_smaller_than_input() -> None:
    msg = raises(ValueError, "reflect", convlib.pad, torch.randn(1, 2, 3), (3, 0), mode="reflect")
    assert "size 3" in msg


def test_circular_pad_wraps_more_than_once() -> None:
    raises(ValueError, "circular", convlib.pad, torch.randn(1, 2, 3), (0, 4), mode="circular")


def test_crop_below_zero() -> None:
    raises(ValueError, "pad.*crops", convlib.pad, torch.randn(1, 2, 3), (-2, -2))


def test_value_with_non_constant_mode() -> None:
    raises(ValueError, "value", convlib.pad, X4, (1, 1), mode="reflect", value=1.0)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_non_constant_mode_wrong_ndim(mode: str) -> None:
    raises(ValueError, "mode=", convlib.pad, torch.randn(5), (1, 1), mode=mode)
    raises(ValueError, "mode=", convlib.pad, torch.randn(1, 2, 3, 4), (1, 1), mode=mode)


# --- unfold / fold ------------------------------------------------------------------------------


@pytest.mark.parametrize("unfold", [convlib.unfold, reference.unfold])
class TestUnfoldErrors:
    def test_wrong_ndim(self, unfold: Any) -> None:
        raises(ValueError, "input", unfold, torch.randn(4, 4), 2)

    def test_kernel_too_large(self, unfold: Any) -> None:
        raises(ValueError, "kernel_size", unfold, torch.randn(1, 1, 3, 3), 4)

    def test_nonpositive_stride(self, unfold: Any) -> None:
        raises(ValueError, "stride", unfold, X4, 2, stride=0)

    def test_negative_padding(self, unfold: Any) -> None:
        raises(ValueError, "padding", unfold, X4, 2, padding=-1)

    def test_nonpositive_kernel(self, unfold: Any) -> None:
        raises(ValueError, "kernel_size", unfold, X4, (0, 2))

    def test_kernel_size_wrong_length(self, unfold: Any) -> None:
        raises(ValueError, "kernel_size", unfold, X4, (2, 2, 2))


@pytest.mark.parametrize("fold", [convlib.fold, reference.fold])
class TestFoldErrors:
    def test_wrong_ndim(self, fold: Any) -> None:
        raises(ValueError, "input", fold, torch.randn(4), (3, 3), 2)

    def test_rows_not_divisible(self, fold: Any) -> None:
        raises(ValueError, "kernel_size", fold, torch.randn(1, 5, 4), (3, 3), 2)

    def test_wrong_number_of_windows(self, fold: Any) -> None:
        msg = raises(ValueError, "output_size", fold, torch.randn(1, 4, 5), (3, 3), 2)
        assert "2*2 = 4" in msg

    def test_nonpositive_output_size(self, fold: Any) -> None:
        raises(ValueError, "output_size", fold, torch.randn(1, 4, 4), (0, 3), 2)


# --- shapes -------------------------------------------------------------------------------------


def test_shapes_errors() -> None:
    shapes = convlib.shapes
    raises(ValueError, "kernel_size", shapes.conv_output_size, 3, 5)
    raises(ValueError, "stride", shapes.conv_output_size, 8, 3, 0)
    raises(ValueError, "padding", shapes.conv_output_size, 8, 3, 1, -1)
    raises(ValueError, "dilation", shapes.conv_output_size, 8, 3, 1, 0, 0)
    raises(ValueError, "kernel_size", shapes.conv_output_size, (8, 8), (3, 3, 3))
    raises(TypeError, "size", shapes.conv_output_size, 8.0, 3)
    raises(ValueError, "output_padding", shapes.conv_transpose_output_size, 4, 3, 2, 0, 2)
    raises(ValueError, "padding", shapes.conv_transpose_output_size, 1, 1, 1, 1)
    raises(ValueError, "padding.*half", shapes.pool_output_size, 8, 2, 2, 2)
    raises(TypeError, "ceil_mode", shapes.pool_output_size, 8, 2, ceil_mode=1)
    raises(ValueError, "kernel_size", shapes.same_padding, 0)
    raises(ValueError, r"layers\[1\]", shapes.receptive_field, [(3, 1, 1), (3,)])
    raises(ValueError, r"layers\[0\]", shapes.receptive_fields, [(3, 0, 1)])
    raises(TypeError, "layers", shapes.receptive_field, 3)
    raises(ValueError, "groups", shapes.conv_params, 4, 6, 3, groups=4)
    raises(ValueError, "in_channels", shapes.conv_params, 0, 6, 3)
    raises(TypeError, "out_channels", shapes.conv_macs, 4, 6.0, 3, 5)
    raises(ValueError, "output_size", shapes.conv_macs, 4, 6, 3, -1)
