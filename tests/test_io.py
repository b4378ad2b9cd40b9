"""Tests of cxr_nb.io: the real DICOM and real PNG/JPEG sets in ../shared/data (skipped without them),
and DICOMs generated here with pydicom covering photometric interpretations, bit depths, rescale,
windowing, VOI LUTs, compressed transfer syntaxes and every kind of bad input."""
import pickle
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (ExplicitVRLittleEndian, JPEG2000, JPEG2000Lossless, JPEGBaseline8Bit,
                         JPEGLSLossless, JPEGLosslessSV1, RLELossless, SecondaryCaptureImageStorage,
                         generate_uid)

from cxr_nb.io import CXRReadError, PILCXR, find_dataset, parse_dicom_age, read_cxr


# ---------------------------------------------------------------- helpers
def make_ds(arr, bits_stored=None, photometric="MONOCHROME2", **attrs):
    """A DICOM dataset holding `arr` (HxW, HxWx3 or FxHxW) uncompressed, with extra attributes."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.SOPClassUID, ds.Modality, ds.PatientID = SecondaryCaptureImageStorage, "CR", "P001"
    colour = photometric not in ("MONOCHROME1", "MONOCHROME2")
    if colour:
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
        ds.Rows, ds.Columns = arr.shape[-3:-1]
    else:
        ds.SamplesPerPixel = 1
        ds.Rows, ds.Columns = arr.shape[-2:]
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(arr.dtype.kind == "i")
    for k, v in attrs.items():
        setattr(ds, k, v)
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    return ds


def write_dcm(path, arr, **kw):
    make_ds(arr, **kw).save_as(path, enforce_file_format=True)
    return path


def phantom16(bits=12, shape=(32, 40), seed=0):
    """A small random-ish 'chest' with values spanning most of `bits` bits."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = 0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + 0.05 * rng.standard_normal(shape)
    top = 2**bits - 1
    a = np.clip(img, 0, 1) * top
    a[0, 0], a[-1, -1] = 0, top
    return a.astype(np.uint16 if bits > 8 else np.uint8)


def minmax(x):
    x = x.astype(np.float64)
    return (x - x.min()) / (x.max() - x.min())


# ---------------------------------------------------------------- real data
def test_real_dicom_lungs_dark_bone_bright(shared_set, tmp_path):
    fn = sorted(shared_set("dicom").glob("*.dcm"))[0]
    img, meta = read_cxr(fn)
    assert img.dtype == np.float32 and img.shape == (1024, 1024)
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert meta["photometric"] == "MONOCHROME2" and meta["transfer_syntax"] == "JPEG Baseline (Process 1)"
    assert (meta["sex"], meta["age"], meta["view_position"]) == ("M", 62.0, "PA")
    assert meta["pixel_spacing"] == (0.168, 0.168) and meta["original_size"] == (1024, 1024)
    assert meta["patient_id"] == str(pydicom.dcmread(fn).PatientID)
    Image.fromarray(np.round(img * 255).astype(np.uint8)).save("/tmp/test_io_real_dicom.png")
    # Lung fields (left and right thirds, mid-height) are darker than the mediastinum/spine column.
    H, W = img.shape
    band = slice(int(0.3 * H), int(0.6 * H))
    right_lung = img[band, int(0.2 * W):int(0.4 * W)].mean()
    left_lung = img[band, int(0.62 * W):int(0.8 * W)].mean()
    spine = img[band, int(0.46 * W):int(0.54 * W)].mean()
    assert spine > right_lung + 0.2 and spine > left_lung + 0.2, (spine, right_lung, left_lung)
    # Decoded pixel-for-pixel as pydicom decodes it (8 bits, full 0..255 range, so min-max = /255).
    raw = pydicom.dcmread(fn).pixel_array.astype(np.float64)
    np.testing.assert_allclose(img, (raw - raw.min()) / (raw.max() - raw.min()), atol=1e-6)


def test_real_jsrt_png(shared_set):
    fn = sorted((shared_set("jsrt") / "images").glob("*.png"))[0]
    img, meta = read_cxr(fn)
    ref = np.asarray(Image.open(fn).convert("L"), dtype=np.float64) / 255
    assert img.shape == ref.shape == (512, 512) and meta["original_size"] == (512, 512)
    np.testing.assert_allclose(img, ref, atol=1e-6)
    assert meta["format"] == "png" and meta["bits_stored"] == 8 and meta["photometric"] is None


def test_real_kermany_rgb_jpeg_to_gray(shared_set):
    fn = sorted((shared_set("kermany") / "chest_xray" / "train" / "NORMAL").glob("*.jpeg"))[0]
    with Image.open(fn) as im:
        assert im.mode == "RGB"
        rgb = np.asarray(im, dtype=np.float64)
    img, meta = read_cxr(fn)
    assert img.ndim == 2 and img.shape == rgb.shape[:2] and meta["format"] == "jpeg"
    luma = rgb @ [0.299, 0.587, 0.114] / 255
    np.testing.assert_allclose(img, luma, atol=1e-5)


def test_real_nih_png(shared_set):
    fns = sorted((shared_set("nih") / "images").glob("*.png"))[:3]
    for fn in fns:
        img, meta = read_cxr(fn)
        ref = np.asarray(Image.open(fn).convert("L"), dtype=np.float64) / 255
        np.testing.assert_allclose(img, ref, atol=1e-6)
        assert img.shape == (256, 256)


def test_find_dataset(monkeypatch, tmp_path):
    import cxr_nb
    monkeypatch.delenv("CXR_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    beside_repo = Path(cxr_nb.__file__).resolve().parent.parent.parent / "shared" / "data" / "jsrt"
    if beside_repo.is_dir():
        assert find_dataset("jsrt") == beside_repo
    else:
        with pytest.raises(FileNotFoundError, match="CXR_DATA"):
            find_dataset("jsrt")
    (tmp_path / "jsrt").mkdir()
    monkeypatch.setenv("CXR_DATA", str(tmp_path))
    assert find_dataset("jsrt") == tmp_path / "jsrt"  # the environment variable comes first
    with pytest.raises(FileNotFoundError, match="CXR_DATA"):
        find_dataset("no_such_set_xyz")


# ---------------------------------------------------------------- generated DICOMs: display rules
@pytest.mark.parametrize("bits,dtype", [(8, np.uint8), (12, np.uint16), (16, np.uint16)])
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_bits_and_photometric(tmp_path, bits, dtype, photometric):
    a = phantom16(bits).astype(dtype)
    img, meta = read_cxr(write_dcm(tmp_path / "x.dcm", a, bits_stored=bits, photometric=photometric))
    expected = minmax(a) if photometric == "MONOCHROME2" else 1 - minmax(a)
    np.testing.assert_allclose(img, expected, atol=1e-6)
    assert meta["bits_stored"] == bits and meta["photometric"] == photometric
    img_b, _ = read_cxr(tmp_path / "x.dcm", no_window="bits")
    expected = a / (2**bits - 1)
    np.testing.assert_allclose(img_b, expected if photometric == "MONOCHROME2" else 1 - expected, atol=1e-6)


def test_bits_stored_masks_high_bits(tmp_path):
    a = phantom16(12)
    dirty = a | np.uint16(0xA000)  # garbage (e.g. overlay) in the 4 unused high bits
    img, _ = read_cxr(write_dcm(tmp_path / "x.dcm", dirty, bits_stored=12), no_window="bits")
    np.testing.assert_allclose(img, a / 4095, atol=1e-6)


def test_signed_12_bit(tmp_path):
    a = (phantom16(12).astype(np.int32) - 2048).astype(np.int16)
    img, _ = read_cxr(write_dcm(tmp_path / "s.dcm", a, bits_stored=12))
    np.testing.assert_allclose(img, minmax(a), atol=1e-6)
    img_b, _ = read_cxr(tmp_path / "s.dcm", no_window="bits")
    np.testing.assert_allclose(img_b, (a + 2048) / 4095, atol=1e-6)


def test_slope_intercept_and_window(tmp_path):
    a = phantom16(12)
    fn = write_dcm(tmp_path / "w.dcm", a, bits_stored=12, RescaleSlope=0.5, RescaleIntercept=-1000,
                   WindowCenter=[0, 500], WindowWidth=[1501, 100])  # two windows: the first is used
    img, meta = read_cxr(fn)
    v = a * 0.5 - 1000
    np.testing.assert_allclose(img, np.clip((v - (0 - 0.5)) / 1500 + 0.5, 0, 1), atol=1e-6)
    assert 0 < (img == 0).mean() < 1 and 0 < (img == 1).mean() < 1  # the window clips both ends
    assert "window" in meta["normalisation"]
    img_raw, meta_raw = read_cxr(fn, apply_voi=False)  # ignore the window: rescaled min-max
    np.testing.assert_allclose(img_raw, minmax(v), atol=1e-6)
    assert meta_raw["normalisation"] == "image min-max"


def test_negative_slope_keeps_orientation_of_values(tmp_path):
    a = phantom16(12)
    img, _ = read_cxr(write_dcm(tmp_path / "n.dcm", a, bits_stored=12, RescaleSlope=-1, RescaleIntercept=4095))
    np.testing.assert_allclose(img, minmax(4095 - a.astype(np.float64)), atol=1e-6)


def test_window_on_monochrome1(tmp_path):
    a = phantom16(12)
    fn = write_dcm(tmp_path / "w1.dcm", a, bits_stored=12, photometric="MONOCHROME1",
                   WindowCenter=2048, WindowWidth=2049)
    img, _ = read_cxr(fn)
    np.testing.assert_allclose(img, 1 - np.clip((a - 2047.5) / 2048 + 0.5, 0, 1), atol=1e-6)


def test_sigmoid_window(tmp_path):
    a = phantom16(12)
    fn = write_dcm(tmp_path / "sg.dcm", a, bits_stored=12, WindowCenter=2000, WindowWidth=1000,
                   VOILUTFunction="SIGMOID")
    img, _ = read_cxr(fn)
    np.testing.assert_allclose(img, 1 / (1 + np.exp(-4 * (a - 2000.0) / 1000)), atol=1e-6)


def test_invalid_window_falls_back_with_warning(tmp_path):
    a = phantom16(12)
    fn = write_dcm(tmp_path / "bw.dcm", a, bits_stored=12, WindowCenter=100, WindowWidth=0)
    with pytest.warns(UserWarning, match="invalid window"):
        img, meta = read_cxr(fn)
    np.testing.assert_allclose(img, minmax(a), atol=1e-6)
    assert meta["normalisation"] == "image min-max"
    with pytest.raises(ValueError, match="no_window"):
        read_cxr(fn, no_window="bogus")


def test_voi_lut_sequence(tmp_path):
    a = phantom16(12)
    # A non-linear LUT (gamma 0.5) over input values 1000..3047, 12-bit output.
    n, first = 2048, 1000
    lut = np.round(4095 * np.sqrt(np.linspace(0, 1, n))).astype(np.uint16)
    ds = make_ds(a, bits_stored=12, WindowCenter=100, WindowWidth=10)  # the LUT is preferred over the window
    item = Dataset()
    item.LUTDescriptor = [n, first, 12]
    item.add_new(0x00283006, "US", lut.tolist())
    ds.VOILUTSequence = [item]
    ds.save_as(tmp_path / "lut.dcm", enforce_file_format=True)
    img, meta = read_cxr(tmp_path / "lut.dcm")
    expected = lut[np.clip(a.astype(np.int64) - first, 0, n - 1)] / 4095
    np.testing.assert_allclose(img, expected, atol=1e-6)
    assert meta["normalisation"] == "VOI LUT"
    np.testing.assert_allclose(read_cxr(tmp_path / "lut.dcm", apply_voi=False)[0], minmax(a), atol=1e-6)


def test_metadata(tmp_path):
    a = phantom16(8).astype(np.uint8)
    fn = write_dcm(tmp_path / "m.dcm", a, PatientAge="006M", PatientSex="F", ViewPosition="AP",
                   PixelSpacing=[0.2, 0.25], ImagerPixelSpacing=[0.3, 0.3])
    _, meta = read_cxr(fn)
    assert meta["age"] == 0.5 and meta["sex"] == "F" and meta["view_position"] == "AP"
    assert meta["pixel_spacing"] == (0.2, 0.25)  # Pixel Spacing wins over Imager Pixel Spacing
    assert meta["original_size"] == a.shape and meta["format"] == "dicom" and meta["patient_id"] == "P001"
    assert meta["transfer_syntax"] == "Explicit VR Little Endian"
    _, meta = read_cxr(write_dcm(tmp_path / "m2.dcm", a, ImagerPixelSpacing=[0.3, 0.35]))
    assert meta["pixel_spacing"] == (0.3, 0.35) and meta["age"] is None and meta["sex"] is None
    assert parse_dicom_age("045Y") == 45 and parse_dicom_age("002W") == pytest.approx(14 / 365.25)


def test_dicom_detected_by_content(tmp_path):
    a = phantom16(12)
    ds = make_ds(a, bits_stored=12)
    ds.save_as(tmp_path / "renamed.png", enforce_file_format=True)  # a DICOM with the wrong extension
    np.testing.assert_allclose(read_cxr(tmp_path / "renamed.png")[0], minmax(a), atol=1e-6)
    # No 128-byte preamble, no 'DICM', no extension: pydicom still parses it.
    ds.file_meta, ds.preamble = FileMetaDataset(), None
    ds.save_as(tmp_path / "nopreamble", implicit_vr=True, little_endian=True)
    raw = (tmp_path / "nopreamble").read_bytes()
    assert raw[128:132] != b"DICM"
    img, meta = read_cxr(tmp_path / "nopreamble")
    np.testing.assert_allclose(img, minmax(a), atol=1e-6)
    assert meta["format"] == "dicom"


def test_colour_dicom_to_luma(tmp_path):
    rgb = np.stack([phantom16(8, seed=s).astype(np.uint8) for s in range(3)], axis=-1)
    img, meta = read_cxr(write_dcm(tmp_path / "rgb.dcm", rgb, photometric="RGB"))
    np.testing.assert_allclose(img, rgb.astype(np.float64) @ [0.299, 0.587, 0.114] / 255, atol=1e-5)
    assert meta["photometric"] == "RGB" and img.ndim == 2


# ---------------------------------------------------------------- compressed transfer syntaxes
def _compressed(tmp_path, a, syntax, name, plugin="", encoder_kw=None, **kw):
    ds = make_ds(a, **kw)
    ds.compress(syntax, encoding_plugin=plugin, **(encoder_kw or {}))
    assert ds.file_meta.TransferSyntaxUID == syntax
    return ds.save_as(tmp_path / name, enforce_file_format=True) or tmp_path / name


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_rle_lossless(tmp_path, bits):
    a = phantom16(bits)
    fn = _compressed(tmp_path, a, RLELossless, "rle.dcm", plugin="pydicom", bits_stored=bits)
    img, meta = read_cxr(fn, no_window="bits")
    np.testing.assert_array_equal(np.round(img * (2**bits - 1)).astype(np.int64), a)  # pixel-for-pixel
    assert meta["transfer_syntax"] == "RLE Lossless"


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_jpeg2000_lossless(tmp_path, bits):
    a = phantom16(bits)
    fn = _compressed(tmp_path, a, JPEG2000Lossless, "j2k.dcm", bits_stored=bits)
    img, _ = read_cxr(fn, no_window="bits")
    np.testing.assert_array_equal(np.round(img * (2**bits - 1)).astype(np.int64), a)


def test_jpeg2000_lossless_signed(tmp_path):
    a = (phantom16(12).astype(np.int32) - 2048).astype(np.int16)
    fn = _compressed(tmp_path, a, JPEG2000Lossless, "j2ks.dcm", bits_stored=12)
    img, _ = read_cxr(fn, no_window="bits")
    np.testing.assert_array_equal(np.round(img * 4095).astype(np.int64) - 2048, a)


def test_jpeg2000_lossy_within_tolerance(tmp_path):
    a = phantom16(12)
    fn = _compressed(tmp_path, a, JPEG2000, "j2kl.dcm", bits_stored=12, encoder_kw=dict(j2k_psnr=[60]))
    img, _ = read_cxr(fn, no_window="bits")
    err = np.abs(img - a / 4095)
    # PSNR 60 dB means an RMS error of 1e-3 of full scale; allow 2e-3 RMS and 1% worst case.
    assert np.sqrt((err**2).mean()) < 2e-3 and err.max() < 0.01, (np.sqrt((err**2).mean()), err.max())


def _jpeg_baseline_dcm(tmp_path, a):
    """An 8-bit JPEG Baseline DICOM: PIL encodes the JPEG stream, pydicom encapsulates it."""
    import io
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=95)
    ds = make_ds(a)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    ds.save_as(tmp_path / "jpg.dcm", enforce_file_format=True)
    return tmp_path / "jpg.dcm", np.asarray(Image.open(buf), dtype=np.float64)


def test_jpeg_baseline(tmp_path):
    a = phantom16(8).astype(np.uint8)
    fn, pil_decoded = _jpeg_baseline_dcm(tmp_path, a)
    img, meta = read_cxr(fn, no_window="bits")
    assert meta["transfer_syntax"] == "JPEG Baseline (Process 1)"
    # Same stream decoded by libjpeg (PIL) and by pydicom's plugin: IDCTs may differ by 1 level.
    assert np.abs(img * 255 - pil_decoded).max() <= 1.0
    # Against the original (noisy phantom, lossy at quality 95): mean error below 2.5 levels of 255,
    # worst pixel below 12 levels.
    err = np.abs(img * 255 - a)
    assert err.mean() < 2.5 and err.max() < 12, (err.mean(), err.max())


def _jpeg_lossless_sv1(a, bits):
    """Encode a 2-D unsigned array as a JPEG Lossless, first-order prediction (process 14, SV1) stream.

    Written here because no installed package encodes it. One Huffman table: the 17 difference
    categories 0..16 all get 5-bit codes 0..16 (valid: no all-ones code)."""
    H, W = a.shape
    x = a.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (bits - 1)
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]  # SV1: the pixel to the left
    diff = (x - pred) % 65536
    diff = np.where(diff >= 32768, diff - 65536, diff).ravel()
    out_bits = []
    for d in diff.tolist():
        s = 0 if d == 0 else int(abs(d)).bit_length()
        out_bits.append(format(s, "05b"))
        if 0 < s < 16:
            v = d if d > 0 else d + (1 << s) - 1
            out_bits.append(format(v, f"0{s}b"))
    bitstr = "".join(out_bits)
    bitstr += "1" * (-len(bitstr) % 8)
    data = bytearray()
    for i in range(0, len(bitstr), 8):
        byte = int(bitstr[i:i + 8], 2)
        data.append(byte)
        if byte == 0xFF:
            data.append(0x00)  # byte stuffing
    seg = lambda marker, payload: bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload
    dht = bytes([0x00]) + bytes([0, 0, 0, 0, 17] + [0] * 11) + bytes(range(17))
    sof3 = bytes([bits]) + H.to_bytes(2, "big") + W.to_bytes(2, "big") + bytes([1, 1, 0x11, 0])
    sos = bytes([1, 1, 0x00, 1, 0, 0])  # Ns=1, component 1 with table 0, Ss=1 (predictor), Se=0, Ah/Al=0
    return b"\xff\xd8" + seg(0xC4, dht) + seg(0xC3, sof3) + seg(0xDA, sos) + bytes(data) + b"\xff\xd9"


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_jpeg_lossless_sv1(tmp_path, bits):
    a = phantom16(bits)
    ds = make_ds(a, bits_stored=bits)
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.PixelData = encapsulate([_jpeg_lossless_sv1(a, bits)])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "jll.dcm", enforce_file_format=True)
    img, meta = read_cxr(tmp_path / "jll.dcm", no_window="bits")
    np.testing.assert_array_equal(np.round(img * (2**bits - 1)).astype(np.int64), a)
    assert "JPEG Lossless" in meta["transfer_syntax"]


@pytest.mark.parametrize("compressed", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
                                        "MR_small_jpeg_ls_lossless.dcm"])
def test_pydicom_reference_files(compressed):
    """Files compressed by other toolkits (shipped with pydicom) decode to the uncompressed original."""
    from pydicom.data import get_testdata_file
    ref, comp = get_testdata_file("MR_small.dcm"), get_testdata_file(compressed)
    if ref is None or comp is None:
        pytest.skip("pydicom test files not available")
    np.testing.assert_array_equal(read_cxr(comp, apply_voi=False)[0], read_cxr(ref, apply_voi=False)[0])


def test_missing_decoder_names_syntax_and_package(tmp_path, monkeypatch):
    from pydicom.pixels import get_decoder
    fn = _compressed(tmp_path, phantom16(12), JPEG2000Lossless, "j2k.dcm", bits_stored=12)
    monkeypatch.setattr(get_decoder(JPEG2000Lossless), "_available", {})
    with pytest.raises(CXRReadError) as e:
        read_cxr(fn)
    msg = str(e.value)
    assert "j2k.dcm" in msg and "JPEG 2000" in msg and "pylibjpeg-openjpeg" in msg
    monkeypatch.setattr(get_decoder(JPEGLSLossless), "_available", {})
    ds = make_ds(phantom16(8).astype(np.uint8))
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    ds.save_as(tmp_path / "jls.dcm", enforce_file_format=True)
    with pytest.raises(CXRReadError, match=r"jls\.dcm.*JPEG-LS.*pylibjpeg-libjpeg"):
        read_cxr(tmp_path / "jls.dcm")


# ---------------------------------------------------------------- non-DICOM formats
def test_png_8_and_16_bit_tiff_and_colour(tmp_path):
    a8 = phantom16(8).astype(np.uint8)
    a16 = phantom16(16)
    Image.fromarray(a8).save(tmp_path / "a8.png")
    Image.fromarray(a16).save(tmp_path / "a16.png")
    Image.fromarray(a16).save(tmp_path / "a16.tif")
    img, meta = read_cxr(tmp_path / "a8.png")
    np.testing.assert_allclose(img, a8 / 255, atol=1e-6)  # 8-bit: / 255
    assert meta["bits_stored"] == 8
    for name in ["a16.png", "a16.tif"]:
        img, meta = read_cxr(tmp_path / name)
        np.testing.assert_allclose(img, a16 / 65535, atol=1e-6)  # 16-bit: / 65535
        assert meta["bits_stored"] == 16 and meta["format"] in ("png", "tiff")
    rgb = np.stack([a8, a8[::-1], 255 - a8], axis=-1)
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_allclose(read_cxr(tmp_path / "rgba.png")[0], rgb @ [0.299, 0.587, 0.114] / 255, atol=1e-5)
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    pal = np.asarray(Image.open(tmp_path / "pal.png").convert("RGB"), dtype=np.float64)
    np.testing.assert_allclose(read_cxr(tmp_path / "pal.png")[0], pal @ [0.299, 0.587, 0.114] / 255, atol=1e-5)
    Image.fromarray(a8).save(tmp_path / "a8.jpg", quality=95)
    img, meta = read_cxr(tmp_path / "a8.jpg")
    assert meta["format"] == "jpeg" and np.abs(img - a8 / 255).mean() < 2 / 255


def test_pilcxr_reads_dicom_and_png_alike(tmp_path):
    a = phantom16(8).astype(np.uint8)
    write_dcm(tmp_path / "x.dcm", (255 - a).astype(np.uint8), photometric="MONOCHROME1", WindowCenter=127.5,
              WindowWidth=256)
    Image.fromarray(a).save(tmp_path / "x.png")
    d, p = PILCXR.create(tmp_path / "x.dcm"), PILCXR.create(tmp_path / "x.png")
    assert d.mode == p.mode == "L" and d.size == p.size == (a.shape[1], a.shape[0])
    assert np.abs(np.asarray(d, dtype=int) - np.asarray(p, dtype=int)).max() <= 1


# ---------------------------------------------------------------- bad input
def _raises(fn, **kw):
    with pytest.raises(CXRReadError) as e:
        read_cxr(fn, **kw)
    assert fn.name in str(e.value) and e.value.path == fn, str(e.value)
    return e.value.reason  # (the message also holds the tmp path, which may contain any word)


def test_bad_missing_directory_text_empty(tmp_path):
    assert "no such file" in _raises(tmp_path / "missing.dcm")
    (tmp_path / "adir").mkdir()
    assert "directory" in _raises(tmp_path / "adir")
    (tmp_path / "notes.txt").write_text("Patient notes, not a radiograph.\n" * 20)
    assert "not an image" in _raises(tmp_path / "notes.txt")
    (tmp_path / "empty.dcm").write_bytes(b"")
    assert "empty" in _raises(tmp_path / "empty.dcm")
    (tmp_path / "notes.dcm").write_text("not dicom at all\n" * 20)
    assert "DICOM" in _raises(tmp_path / "notes.dcm")


def test_bad_truncated_and_corrupt_dicom(tmp_path):
    raw = write_dcm(tmp_path / "good.dcm", phantom16(12), bits_stored=12).read_bytes()
    (tmp_path / "trunc_pixels.dcm").write_bytes(raw[: len(raw) - 100])
    assert "truncated" in _raises(tmp_path / "trunc_pixels.dcm")
    (tmp_path / "trunc_header.dcm").write_bytes(raw[:300])
    assert "truncated" in _raises(tmp_path / "trunc_header.dcm")
    (tmp_path / "garbage.dcm").write_bytes(raw[:132] + bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8)))
    assert "corrupt" in _raises(tmp_path / "garbage.dcm")
    rle = _compressed(tmp_path, phantom16(12), RLELossless, "rle.dcm", plugin="pydicom", bits_stored=12).read_bytes()
    (tmp_path / "rle_trunc.dcm").write_bytes(rle[: len(rle) - 200])
    assert "truncated" in _raises(tmp_path / "rle_trunc.dcm")


def test_bad_truncated_png(tmp_path):
    Image.fromarray(phantom16(8).astype(np.uint8)).save(tmp_path / "ok.png")
    raw = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(raw[: len(raw) // 2])
    assert "truncated" in _raises(tmp_path / "trunc.png")


def test_bad_no_pixel_data(tmp_path):
    ds = make_ds(phantom16(12), bits_stored=12)
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm", enforce_file_format=True)
    assert "no pixel data" in _raises(tmp_path / "nopix.dcm")


def test_bad_multiframe_and_frame_choice(tmp_path):
    frames = np.stack([phantom16(12, seed=s) for s in range(3)])
    fn = write_dcm(tmp_path / "multi.dcm", frames, bits_stored=12, NumberOfFrames=3)
    msg = _raises(fn)
    assert "multi-frame" in msg and "3 frames" in msg
    img, _ = read_cxr(fn, frame=2)
    np.testing.assert_allclose(img, minmax(frames[2]), atol=1e-6)
    assert "out of range" in _raises(fn, frame=3)


def test_bad_colour_dicom_not_interpretable(tmp_path):
    rgb = np.stack([phantom16(8, seed=s).astype(np.uint8) for s in range(3)], axis=-1)
    assert "HSV" in _raises(write_dcm(tmp_path / "hsv.dcm", rgb, photometric="HSV"))


def test_error_pickles_with_path_and_reason(tmp_path):
    e = pickle.loads(pickle.dumps(CXRReadError(tmp_path / "a.dcm", "empty file")))
    assert e.path == tmp_path / "a.dcm" and e.reason == "empty file" and "a.dcm" in str(e)
