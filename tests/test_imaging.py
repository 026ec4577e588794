"""daemon.analysis.imaging on real files: Pillow's and pillow-heif's own test images, plus JPEGs written in tmp_path."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pictod_testdata import HEIF_IMAGES, PILLOW_IMAGES, SKIMAGE
from PIL import Image

from daemon.analysis import imaging
from daemon.errors import PhotoError

MAX_PIXELS = 120_000_000
MAX_BYTES = 512 * 1024 * 1024


def load(path: Path, **kwargs: int | None) -> imaging.DecodedImage:
    return imaging.load(path, max_pixels=MAX_PIXELS, max_file_bytes=MAX_BYTES, **kwargs)  # type: ignore[arg-type]


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def check_valid(decoded: imaging.DecodedImage) -> None:
    rgb = decoded.rgb
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.flags["C_CONTIGUOUS"]
    assert decoded.scale >= 1.0
    long_side = max(decoded.meta.width, decoded.meta.height)
    assert abs(max(rgb.shape[:2]) * decoded.scale - long_side) <= decoded.scale
    assert (decoded.meta.width >= decoded.meta.height) == (rgb.shape[1] >= rgb.shape[0])


# -- orientation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["jpg", "webp"])
@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_matches_upright(orientation: int, ext: str) -> None:
    upright = load(PILLOW_IMAGES / "hopper.jpg").rgb
    path = PILLOW_IMAGES / f"hopper_orientation_{orientation}.{ext}"
    decoded = load(path)
    check_valid(decoded)
    # Same picture up to lossy coding noise (measured 4.5-4.9); a wrong transpose differs by > 30.
    assert mean_diff(decoded.rgb, upright) < 8
    with Image.open(path) as raw:
        stored = np.asarray(raw.convert("RGB"))
    assert mean_diff(stored, upright) > 30  # the file really is stored turned/flipped


def test_avif_irot_imir_applied() -> None:
    reference = load(PILLOW_IMAGES / "avif" / "rot0mir0.avif").rgb
    for path in sorted((PILLOW_IMAGES / "avif").glob("rot?mir?.avif")):
        assert mean_diff(load(path).rgb, reference) < 12, path.name


def test_rotated_phone_jpeg_reports_oriented_size(tmp_path: Path) -> None:
    base = np.asarray(Image.open(SKIMAGE / "astronaut.png").convert("RGB").resize((640, 480)))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait (camera turned clockwise)
    path = tmp_path / "rotated.jpg"
    Image.fromarray(base).save(path, quality=92, exif=exif.tobytes())
    decoded = load(path)
    assert (decoded.meta.width, decoded.meta.height) == (480, 640)
    assert decoded.rgb.shape == (640, 480, 3)
    assert mean_diff(decoded.rgb, np.rot90(base, k=-1)) < 4


# -- modes ---------------------------------------------------------------------------------------------------


def test_cmyk_jpeg_to_rgb() -> None:
    decoded = load(PILLOW_IMAGES / "pil_sample_cmyk.jpg")
    check_valid(decoded)
    with Image.open(PILLOW_IMAGES / "pil_sample_cmyk.jpg") as im:
        assert im.mode == "CMYK"
        expected = np.asarray(im.convert("RGB"))
    assert mean_diff(decoded.rgb, expected) < 1


def test_16bit_grey_scaled_not_clipped() -> None:
    with Image.open(PILLOW_IMAGES / "16bit.cropped.tif") as im:
        assert im.mode.startswith("I;16")
        raw = np.asarray(im).astype(np.uint16)
    assert raw.max() > 255  # Pillow's convert("L") would clip these
    decoded = load(PILLOW_IMAGES / "16bit.cropped.tif")
    assert np.array_equal(decoded.rgb[..., 0], (raw >> 8).astype(np.uint8))
    assert np.array_equal(decoded.rgb[..., 0], decoded.rgb[..., 2])


def test_16bit_rgb_tiff_matches_8bit_target() -> None:
    for name in ("tiff_16bit_RGB", "tiff_16bit_RGBa"):
        decoded = load(PILLOW_IMAGES / f"{name}.tiff")
        target = load(PILLOW_IMAGES / f"{name}_target.png")
        assert mean_diff(decoded.rgb, target.rgb) < 2, name


def test_rgba_composited_on_white() -> None:
    path = PILLOW_IMAGES / "transparent.png"
    with Image.open(path) as im:
        alpha = np.asarray(im.getchannel("A"))
    assert (alpha == 0).any()
    decoded = load(path)
    assert (decoded.rgb[alpha == 0] == 255).all()


def test_palette_and_1bit_transparency_on_white() -> None:
    for name in ("1_trns.png", "dispose_bgnd_rgba.gif"):
        decoded = load(PILLOW_IMAGES / name)
        check_valid(decoded)
        with Image.open(PILLOW_IMAGES / name) as im:
            alpha = np.asarray(im.convert("RGBA").getchannel("A"))
        assert (decoded.rgb[alpha == 0] == 255).all(), name


# -- HEIF ----------------------------------------------------------------------------------------------------


def test_heic_phone_photo_with_metadata() -> None:
    decoded = load(HEIF_IMAGES / "heif_special" / "xiaomi.heic")
    check_valid(decoded)
    assert decoded.meta.format == "HEIF"
    assert (decoded.meta.width, decoded.meta.height) == (2592, 1944)
    assert decoded.rgb.shape == (1944, 2592, 3)
    assert decoded.meta.camera == "Xiaomi M2012K11AG"
    assert decoded.meta.taken_at == "2023-04-27T19:44:18"
    assert decoded.meta.gps is not None
    lat, lon = decoded.meta.gps
    assert 47.2 < lat < 47.3 and 39.6 < lon < 39.8


def test_heic_high_bit_depth_and_alpha() -> None:
    for name in ("RGB_10__128x128.heif", "RGB_12__29x100.heif", "RGBA_10__128x128.heif", "L_12__128x128.heif"):
        decoded = load(HEIF_IMAGES / "heif" / name)
        check_valid(decoded)
        width, height = (int(v) for v in name.split("__")[1].split(".")[0].split("x"))
        assert decoded.rgb.shape == (height, width, 3), name
        assert decoded.rgb.std() > 1, name  # not a flat (clipped) image


# -- EXIF metadata -------------------------------------------------------------------------------------------


def test_exif_metadata_written_by_a_camera(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    exif.get_ifd(0x8769)[0x9003] = "2021:07:04 18:30:05"
    exif.get_ifd(0x8769)[0x9011] = "-04:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "S", (33.0, 51.0, 54.0)
    gps[3], gps[4] = "W", (70.0, 30.0, 0.0)
    path = tmp_path / "camera.jpg"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(path, exif=exif.tobytes())
    meta = load(path).meta
    assert meta.camera == "Canon EOS 5D"
    assert meta.taken_at == "2021-07-04T18:30:05-04:00"
    assert meta.gps == pytest.approx((-(33 + 51 / 60 + 54 / 3600), -70.5))


@pytest.mark.parametrize(
    "name", ["hopper_bad_exif.jpg", "invalid-exif.jpg", "exif_typeerror.jpg", "exif_gps_typeerror.jpg",
             "exif-ifd-offset.jpg", "truncated_exif_dpi.jpg", "exif-dpi-zerodivision.jpg"],
)
def test_broken_exif_does_not_fail_the_photo(name: str) -> None:
    check_valid(load(PILLOW_IMAGES / name))


# -- reduced decoding ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def phone_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    big = Image.open(SKIMAGE / "astronaut.png").convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC)
    path = tmp_path_factory.mktemp("phone") / "phone.jpg"
    big.save(path, quality=90)
    return path


@pytest.mark.parametrize(
    ("target", "scale", "shape"),
    [(None, 1, (3024, 4032)), (2016, 2, (1512, 2016)), (1280, 2, (1512, 2016)), (1000, 4, (756, 1008)),
     (500, 8, (378, 504)), (3000, 1, (3024, 4032))],
)
def test_reduced_jpeg_decode(phone_jpeg: Path, target: int | None, scale: int, shape: tuple[int, int]) -> None:
    decoded = load(phone_jpeg, target_long_side=target)
    assert decoded.scale == scale
    assert decoded.rgb.shape == (*shape, 3)
    assert (decoded.meta.width, decoded.meta.height) == (4032, 3024)
    if target is not None:
        assert max(decoded.rgb.shape) >= target
    full = np.asarray(Image.fromarray(load(phone_jpeg).rgb).resize(shape[::-1], Image.Resampling.BOX))
    assert mean_diff(decoded.rgb, full) < 3


def test_header_gives_the_decoded_pixels_and_is_decoded_from(phone_jpeg: Path, tmp_path: Path) -> None:
    # The daemon's pixel budget weighs a photo by Header.pixels: a JPEG by its reduced decode, not its header.
    header = imaging.open_header(phone_jpeg.read_bytes(), max_pixels=MAX_PIXELS, target_long_side=1280)
    assert (header.width, header.height, header.scale, header.pixels) == (4032, 3024, 2, 2016 * 1512)
    decoded = imaging.decode_header(header)
    assert decoded.rgb.shape == (1512, 2016, 3) and decoded.scale == 2.0
    png = tmp_path / "phone.png"
    Image.open(phone_jpeg).save(png)
    header = imaging.open_header(png.read_bytes(), max_pixels=MAX_PIXELS, target_long_side=1280)
    assert header.pixels == 4032 * 3024  # decoded whole, then box-filtered
    header.close()
    with pytest.raises(PhotoError) as info:
        imaging.open_header(phone_jpeg.read_bytes(), max_pixels=4032 * 3024 - 1)
    assert info.value.reason == "too_many_pixels"


def test_reduced_decode_of_a_rotated_jpeg(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    path = tmp_path / "portrait.jpg"
    Image.new("RGB", (4000, 3000), (200, 30, 30)).save(path, quality=80, exif=exif.tobytes())
    decoded = load(path, target_long_side=1000)
    assert (decoded.meta.width, decoded.meta.height) == (3000, 4000)
    assert decoded.rgb.shape == (1000, 750, 3) and decoded.scale == 4.0


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", "png"), ("HEIF", "heic"), ("WEBP", "webp")])
def test_reduced_decode_of_other_formats(phone_jpeg: Path, tmp_path: Path, fmt: str, suffix: str) -> None:
    # No DCT scaling outside JPEG: the decoded photo is box-filtered by an integer factor right away.
    path = tmp_path / f"phone.{suffix}"
    Image.open(phone_jpeg).save(path, fmt, quality=90)
    decoded = load(path, target_long_side=1280)
    assert decoded.scale == 3.0 and decoded.rgb.shape == (1008, 1344, 3)
    assert (decoded.meta.width, decoded.meta.height) == (4032, 3024)
    full = np.asarray(Image.fromarray(load(path).rgb).resize((1344, 1008), Image.Resampling.BOX))
    assert mean_diff(decoded.rgb, full) < 1
    assert load(path, target_long_side=2100).rgb.shape == (3024, 4032, 3)  # less than 2x the target: kept


def test_reduced_before_rgb_conversion_matches_after(phone_jpeg: Path, tmp_path: Path) -> None:
    # RGBA, grey and CMYK are box-filtered before the RGB conversion (alpha premultiplied by Pillow): the same
    # pixels as converting the whole photo first and reducing it.
    base = Image.open(phone_jpeg).convert("RGB")
    alpha = Image.linear_gradient("L").resize(base.size)
    cases = {"rgba.png": base.copy(), "grey.png": base.convert("L"), "cmyk.tif": base.convert("CMYK")}
    cases["rgba.png"].putalpha(alpha)
    for name, img in cases.items():
        path = tmp_path / name
        img.save(path)
        decoded = load(path, target_long_side=1280)
        assert decoded.scale == 3.0 and decoded.rgb.shape == (1008, 1344, 3), name
        full = np.asarray(Image.fromarray(load(path).rgb).resize((1344, 1008), Image.Resampling.BOX))
        assert mean_diff(decoded.rgb, full) < 1, name


def test_reduced_decode_of_a_rotated_png(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "portrait.png"
    img = Image.new("RGB", (3000, 2000), (1, 2, 3))
    img.paste((250, 0, 0), (0, 0, 300, 200))  # a red corner: top-left before the 90 degree turn
    img.save(path, exif=exif.tobytes())
    decoded = load(path, target_long_side=500)
    assert (decoded.meta.width, decoded.meta.height) == (2000, 3000)
    assert decoded.scale == 6.0 and decoded.rgb.shape == (500, 334, 3)
    assert tuple(decoded.rgb[10, -10]) == (250, 0, 0)  # orientation 6: the old top-left is now top-right


# -- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (PILLOW_IMAGES / "truncated_jpeg.jpg", "truncated"),
        (PILLOW_IMAGES / "truncated_image.png", "truncated"),
        (PILLOW_IMAGES / "broken.png", "corrupt"),
        (PILLOW_IMAGES / "broken_data_stream.png", "corrupt"),
        (PILLOW_IMAGES / "decompression_bomb.gif", "too_many_pixels"),
        (HEIF_IMAGES / "heif_special" / "200MP.heic", "too_many_pixels"),
        (HEIF_IMAGES / "heif_corrupted" / "empty.heic", "empty"),
        (HEIF_IMAGES / "heif_corrupted" / "corrupted.heic", "corrupt"),
        (PILLOW_IMAGES / "hopper.psd", "unsupported_format"),
        (PILLOW_IMAGES / "eps" / "pil_sample_cmyk.eps", "unsupported_format"),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_bad_files_raise_typed_errors(path: Path, reason: str) -> None:
    with pytest.raises(PhotoError) as info:
        load(path)
    assert info.value.reason == reason
    assert "\n" not in str(info.value)


def test_gif_bomb_in_a_later_frame_is_never_decoded() -> None:
    # Frame 2 of this GIF extends the canvas to a bomb; only the first frame is read.
    decoded = load(PILLOW_IMAGES / "decompression_bomb_extents.gif")
    assert decoded.rgb.shape == (100, 100, 3)


def test_pixel_limit_is_per_call() -> None:
    with pytest.raises(PhotoError) as info:
        imaging.load(PILLOW_IMAGES / "hopper.jpg", max_pixels=128 * 128 - 1, max_file_bytes=MAX_BYTES)
    assert info.value.reason == "too_many_pixels"
    check_valid(imaging.load(PILLOW_IMAGES / "hopper.jpg", max_pixels=128 * 128, max_file_bytes=MAX_BYTES))


def test_file_level_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo\n")
    cases = {
        empty: "empty",
        text: "not_an_image",
        tmp_path / "missing.jpg": "unreadable",
        tmp_path: "unreadable",  # a directory
    }
    for path, reason in cases.items():
        with pytest.raises(PhotoError) as info:
            load(path)
        assert info.value.reason == reason, path
    with pytest.raises(PhotoError) as info:
        imaging.load(PILLOW_IMAGES / "hopper.jpg", max_pixels=MAX_PIXELS, max_file_bytes=1000)
    assert info.value.reason == "file_too_large"


def test_decode_bytes_names_the_photo() -> None:
    with pytest.raises(PhotoError) as info:
        imaging.decode(b"GIF89a" + b"\x00" * 3, max_pixels=MAX_PIXELS, name="x.gif")
    assert info.value.message.startswith("x.gif: ")


# -- robustness ----------------------------------------------------------------------------------------------


def all_test_files() -> list[Path]:
    return sorted(p for root in (PILLOW_IMAGES, HEIF_IMAGES) for p in root.rglob("*") if p.is_file())


def test_sweep_every_file_decodes_or_raises_photo_error() -> None:
    """Every Pillow and pillow-heif test file (fuzz crashes included): a valid image or a PhotoError, nothing
    else. Measured: ~780 files ok, ~400 typed errors, ~7 s."""
    files = all_test_files()
    assert len(files) > 1000
    decoded = failed = 0
    for path in files:
        try:
            check_valid(load(path, target_long_side=1280))
            decoded += 1
        except PhotoError as exc:
            assert exc.reason in {
                "empty", "not_an_image", "unsupported_format", "truncated", "corrupt", "too_many_pixels",
            }, (path, exc)
            assert "\n" not in str(exc)
            failed += 1
    assert decoded > 700 and failed > 300


def test_threads_give_the_same_pixels() -> None:
    names = ["hopper_orientation_6.jpg", "pil_sample_cmyk.jpg", "16bit.cropped.tif", "transparent.png",
             "hopper.gif", "truncated_jpeg.jpg"]
    paths = [PILLOW_IMAGES / n for n in names] + [HEIF_IMAGES / "heif" / "RGB_10__128x128.heif"]

    def run(path: Path) -> bytes | str:
        try:
            return load(path).rgb.tobytes()
        except PhotoError as exc:
            return exc.reason

    expected = [run(p) for p in paths]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(run, paths * 4)) == expected * 4


def test_decode_bytes_equals_load() -> None:
    data = (PILLOW_IMAGES / "hopper_orientation_3.jpg").read_bytes()
    a = imaging.decode(data, max_pixels=MAX_PIXELS)
    b = load(PILLOW_IMAGES / "hopper_orientation_3.jpg")
    assert np.array_equal(a.rgb, b.rgb) and a.meta == b.meta
    buffer = io.BytesIO()
    Image.fromarray(a.rgb).save(buffer, "PNG")
    assert np.array_equal(imaging.decode(buffer.getvalue(), max_pixels=MAX_PIXELS).rgb, a.rgb)
