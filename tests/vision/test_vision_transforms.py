"""Pure transforms on synthetic arrays: letterbox, NMS, similarity alignment, crops, normalisation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from daemon.analysis.vision import transforms
from daemon.analysis.vision.transforms import ARCFACE_TEMPLATE


def gradient_image(width: int, height: int) -> np.ndarray:
    xs = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    ys = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to((xs + ys) / 2, (height, width, 3)).astype(np.uint8)


def test_letterbox_centres_wide_image_and_maps_boxes_back() -> None:
    image = gradient_image(200, 100)
    canvas, mapping = transforms.letterbox(image, (640, 640))
    assert canvas.shape == (640, 640, 3)
    assert mapping.scale_x == pytest.approx(3.2) and mapping.scale_y == pytest.approx(3.2)
    assert (mapping.pad_x, mapping.pad_y) == (0.0, 160.0)
    assert (canvas[:160] == 114).all() and (canvas[480:] == 114).all()
    assert not (canvas[160:480] == 114).all()
    # A box drawn in canvas pixels around the whole image maps back onto the image's own frame.
    back = mapping.to_image(np.array([[0, 160, 640, 480]], np.float32), 200, 100)
    np.testing.assert_allclose(back, [[0, 0, 200, 100]], atol=1e-4)


def test_letterbox_clips_mapped_boxes_to_the_image() -> None:
    _, mapping = transforms.letterbox(gradient_image(100, 200), (640, 640))
    back = mapping.to_image(np.array([[-50, -50, 700, 700]], np.float32), 100, 200)
    np.testing.assert_allclose(back, [[0, 0, 100, 200]])


def test_letterbox_top_left_without_scaleup_keeps_small_images_at_their_size() -> None:
    image = gradient_image(300, 200)
    canvas, mapping = transforms.letterbox(image, (640, 640), pad_value=0, center=False, scaleup=False)
    assert (mapping.scale_x, mapping.scale_y, mapping.pad_x, mapping.pad_y) == (1.0, 1.0, 0.0, 0.0)
    np.testing.assert_array_equal(canvas[:200, :300], image)
    assert (canvas[200:] == 0).all() and (canvas[:, 300:] == 0).all()
    points = mapping.points_to_image(np.array([[[10.0, 20.0]]], np.float32))
    np.testing.assert_allclose(points, [[[10.0, 20.0]]])


def test_letterbox_shrinks_large_images_to_fit() -> None:
    canvas, mapping = transforms.letterbox(gradient_image(1280, 960), (640, 640), center=False, scaleup=False)
    assert mapping.scale_x == pytest.approx(0.5) and mapping.scale_y == pytest.approx(0.5)
    assert (canvas[480:] == 114).all() and not (canvas[:480] == 114).all()


def test_nms_keeps_best_of_overlapping_boxes_and_separate_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.8, 0.9, 0.5, 0.3], np.float32)
    keep = transforms.nms(boxes, scores, 0.5)
    assert keep.tolist() == [1, 2]


def test_nms_threshold_is_inclusive_of_lower_overlap() -> None:
    # IoU of these two is 1/3: kept at iou=0.5, suppressed at iou=0.3.
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    assert transforms.box_iou(boxes[0], boxes[1:])[0] == pytest.approx(1 / 3)
    assert transforms.nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert transforms.nms(boxes, scores, 0.3).tolist() == [0]


def test_nms_per_class_never_suppresses_across_classes() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 1, 0])
    assert transforms.nms_per_class(boxes, scores, classes, 0.5).tolist() == [0, 1]
    assert transforms.nms_per_class(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0), 0.5).size == 0


def test_similarity_of_template_onto_itself_is_identity() -> None:
    matrix = transforms.similarity_transform(ARCFACE_TEMPLATE, ARCFACE_TEMPLATE)
    np.testing.assert_allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def test_similarity_recovers_a_known_rotation_scale_shift() -> None:
    angle, scale, shift = np.deg2rad(25.0), 2.7, np.array([310.0, 145.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (ARCFACE_TEMPLATE.astype(np.float64) @ rot.T + shift).astype(np.float32)
    matrix = transforms.similarity_transform(points, ARCFACE_TEMPLATE)
    mapped = points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, ARCFACE_TEMPLATE, atol=1e-3)
    # OpenCV's own estimator agrees on exact data.
    reference, _ = cv2.estimateAffinePartial2D(points, ARCFACE_TEMPLATE)
    np.testing.assert_allclose(matrix, reference, atol=1e-3)


def test_align_face_puts_landmarks_on_the_template() -> None:
    # Draw five bright dots where a rotated, enlarged "face" has its landmarks; after alignment the dots
    # must sit on the ArcFace template points.
    angle, scale, shift = np.deg2rad(-20.0), 3.0, np.array([200.0, 150.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (ARCFACE_TEMPLATE.astype(np.float64) @ rot.T + shift).astype(np.float32)
    image = np.zeros((800, 800, 3), np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (round(float(x)), round(float(y))), 6, (255, 255, 255), -1)
    crop = transforms.align_face(image, landmarks, 112)
    assert crop.shape == (112, 112, 3)
    for x, y in ARCFACE_TEMPLATE:
        assert crop[round(float(y)), round(float(x))].min() == 255


def test_crop_box_margin_square_and_outside() -> None:
    image = gradient_image(400, 300)
    crop = transforms.crop_box(image, (100, 100, 200, 150), 160, margin=0.5)
    assert crop.shape == (160, 160, 3)
    square = transforms.crop_box(image, (100, 100, 200, 150), 112, margin=0.0, square=True)
    assert square.shape == (112, 112, 3)
    outside = transforms.crop_box(image, (500, 500, 600, 600), 112, margin=0.2)
    assert outside.shape == (112, 112, 3) and not outside.any()


def test_prewhiten_and_l2_normalize() -> None:
    x = np.random.default_rng(0).uniform(0, 255, (160, 160, 3)).astype(np.float32)
    white = transforms.prewhiten(x)
    assert abs(float(white.mean())) < 1e-4 and float(white.std()) == pytest.approx(1.0, abs=1e-4)
    flat = transforms.prewhiten(np.full((4, 4, 3), 7.0, np.float32))
    assert not flat.any()  # a constant crop divides by the floor, not by zero
    rows = transforms.l2_normalize(np.array([[3, 4], [0, 0]], np.float32))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0, 0]])


def test_large_shrink_matches_single_step_area_and_maps_back() -> None:
    # 4035x3029 is not a multiple of the integer factor: the two-step shrink drops a sliver, and the mapping
    # must account for it so a drawn rectangle comes back where it was.
    image = np.zeros((3029, 4035, 3), np.uint8)
    image[800:1600, 1000:2000] = 255
    canvas, mapping = transforms.letterbox(image, (640, 640), pad_value=0, center=False)
    reference = cv2.resize(image, (640, round(3029 * 640 / 4035)), interpolation=cv2.INTER_AREA)
    diff = np.abs(canvas[: reference.shape[0]].astype(int) - reference.astype(int))
    assert diff.mean() < 1.0
    ys, xs = np.nonzero(canvas[:, :, 0] > 127)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = mapping.to_image(found, 4035, 3029)
    np.testing.assert_allclose(back, [[1000, 800, 2000, 1600]], atol=8)  # one canvas pixel is ~6.3 source px


def test_to_nchw_layout_scale_and_channel_order() -> None:
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    batch = transforms.to_nchw(images, scale=1.0 / 255.0)
    assert batch.shape == (3, 3, 48, 64) and batch.dtype == np.float32 and batch.flags.c_contiguous
    # The plain numpy definition, value for value.
    expected = np.stack(images).astype(np.float32).transpose(0, 3, 1, 2) * np.float32(1.0 / 255.0)
    np.testing.assert_array_equal(batch, expected)
    bgr = transforms.to_nchw(images, bgr=True)
    flipped = np.stack([im[:, :, ::-1] for im in images]).astype(np.float32).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(bgr, flipped)
    with pytest.raises(ValueError, match="expected"):
        transforms.to_nchw([images[0], images[1][:40]])


# -- fitted canvases (descriptor key stride, issue 15) ---------------------------------------------------------


def odd_sizes() -> list[tuple[int, int]]:
    """Synthetic (width, height) pairs: usual photo shapes, extreme aspect ratios, tiny and huge images, and a
    seeded spread of random ones."""
    fixed = [(4032, 3024), (3024, 4032), (1920, 1080), (500, 338), (150, 150), (640, 480), (641, 481), (1, 1),
             (1, 3000), (3000, 1), (3000, 2), (7, 9), (33, 31), (100_000, 3), (20_000, 15_000), (639, 640)]
    rng = np.random.default_rng(15)
    spread = [(int(w), int(h)) for w, h in rng.integers(1, 6000, (60, 2))]
    return fixed + spread


@pytest.mark.parametrize(("image", "expected"), [
    ((4032, 3024), (640, 480)), ((3024, 4032), (480, 640)), ((1920, 1080), (640, 384)), ((1000, 1000), (640, 640)),
    ((500, 338), (640, 448)), ((150, 150), (640, 640)), ((3000, 2), (640, 32)),
])
def test_canvas_is_the_smallest_stride_multiple_that_holds_the_photo(
    image: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert transforms.canvas_size(image, (640, 640), stride=32) == expected
    assert transforms.canvas_size(image, (640, 640), stride=None) == (640, 640)


@pytest.mark.parametrize("size", odd_sizes())
def test_fitted_canvas_properties_on_synthetic_sizes(size: tuple[int, int]) -> None:
    w, h = size
    canvas_w, canvas_h = transforms.canvas_size(size, (640, 640), stride=32)
    full_w, full_h = transforms.placed_size(size, (640, 640))
    assert canvas_w % 32 == 0 and canvas_h % 32 == 0
    assert full_w <= canvas_w <= 640 and full_h <= canvas_h <= 640
    assert canvas_w - 32 < full_w and canvas_h - 32 < full_h  # the smallest that holds it
    assert max(canvas_w, canvas_h) == 640  # the long side is always at the full input size
    # The canvas depends on the aspect ratio, not on whether the image itself is enlarged.
    small_w, small_h = transforms.placed_size(size, (640, 640), scaleup=False)
    assert small_w <= full_w and small_h <= full_h and (small_w, small_h) == (min(w, full_w), min(h, full_h))


def pixel_image(width: int, height: int) -> np.ndarray:
    """A noise image (a small random block tiled; never the padding values): misplacement on the canvas shows."""
    block = np.random.default_rng(width * 7919 + height).integers(1, 114, (61, 67, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.tile(block, (-(-height // 61), -(-width // 67), 1))[:height, :width])


@pytest.mark.parametrize("size", [s for s in odd_sizes() if s[0] * s[1] <= 13_000_000][::2])
@pytest.mark.parametrize(("center", "scaleup", "pad"), [(True, True, 114), (False, False, 0)])
def test_fitted_letterbox_places_the_photo_and_maps_boxes_back(
    size: tuple[int, int], center: bool, scaleup: bool, pad: int
) -> None:
    w, h = size
    image = pixel_image(w, h)
    canvas, mapping = transforms.letterbox(image, (640, 640), pad_value=pad, center=center, scaleup=scaleup, stride=32)
    assert (canvas.shape[1], canvas.shape[0]) == transforms.canvas_size(size, (640, 640), stride=32)
    placed_w, placed_h = transforms.placed_size(size, (640, 640), scaleup=scaleup)
    x0, y0 = int(mapping.pad_x), int(mapping.pad_y)
    if center:  # ultralytics splits the padding, the odd pixel going right/bottom
        assert (x0, y0) == ((canvas.shape[1] - placed_w) // 2, (canvas.shape[0] - placed_h) // 2)
    else:
        assert (x0, y0) == (0, 0)
    # Exactly the padding is pad_value: the photo fills [y0, y0 + placed_h) x [x0, x0 + placed_w).
    inside = np.zeros(canvas.shape[:2], bool)
    inside[y0 : y0 + placed_h, x0 : x0 + placed_w] = True
    assert (canvas[~inside] == pad).all()
    if placed_w >= 3 and placed_h >= 3:  # the noise never averages to exactly the padding everywhere
        assert not (canvas[inside] == pad).all()
    # A box around the placed photo (canvas pixels) maps back onto the whole photo, and a point in it back to
    # where it came from, to within one canvas pixel.
    back = mapping.to_image(np.array([[x0, y0, x0 + placed_w, y0 + placed_h]], np.float32), w, h)
    np.testing.assert_allclose(back, [[0, 0, w, h]], atol=max(1.0, w / placed_w, h / placed_h) + 1e-3)
    px, py = 0.37 * w, 0.61 * h
    canvas_pt = np.array([[[px * mapping.scale_x + x0, py * mapping.scale_y + y0]]], np.float32)
    np.testing.assert_allclose(mapping.points_to_image(canvas_pt), [[[px, py]]], rtol=1e-4, atol=1e-2)


def test_square_canvas_unchanged_without_a_stride() -> None:
    image = pixel_image(500, 338)
    fitted, fitted_map = transforms.letterbox(image, (640, 640), stride=32)
    square, square_map = transforms.letterbox(image, (640, 640))
    assert fitted.shape == (448, 640, 3) and square.shape == (640, 640, 3)
    # The same resized photo, shifted by the difference in padding; the scales are identical.
    assert (fitted_map.scale_x, fitted_map.scale_y) == (square_map.scale_x, square_map.scale_y)
    dy = int(square_map.pad_y - fitted_map.pad_y)
    np.testing.assert_array_equal(square[dy : dy + 448], fitted)


@pytest.mark.parametrize("shape", [(480, 640, 3), (37, 53, 3), (1512, 2016, 3), (5, 7, 1)])
def test_mean_colour_is_numpys_rounded_mean(shape: tuple[int, int, int]) -> None:
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    expected = image.reshape(-1, shape[2]).mean(axis=0).round().astype(np.uint8)
    got = transforms.mean_colour(image)
    assert got.dtype == np.uint8 and got.shape == (shape[2],)
    assert np.array_equal(got, expected)
    flat = np.full((4, 4, 3), (10, 200, 255), np.uint8)
    assert transforms.mean_colour(flat).tolist() == [10, 200, 255]
