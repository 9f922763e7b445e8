"""Each loader on small files in its real format, written here; offline, one line each.

Each format's defects (`data/schema.py`) stop the load with one exact line: the file,
the line or item, what was expected.
"""

import pickle
import shutil

import numpy as np
import pytest
import torch

from nonlinearity.data import load_raw, make_splits
from nonlinearity.data.sources import ADULT_COLUMNS, CIFAR10_FILES
from nonlinearity.errors import ConfigError, DataUnavailableError, RawFormatError


def offline(monkeypatch):
    """No network: urllib (torchvision, OpenML) and the Hub client (datasets) fail."""
    import urllib.request

    import datasets
    import sklearn.datasets

    def fail(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fail)
    monkeypatch.setattr(datasets, "load_dataset", fail)


def one_line(exc_info, *parts):
    message = str(exc_info.value)
    assert "\n" not in message
    for p in parts:
        assert str(p) in message, (p, message)


# --- CIFAR-10: the python pickles of cifar-10-python.tar.gz ----------------------------------


def write_cifar(root, per_batch=20, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in CIFAR10_FILES[:-1]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)  # rows: R, G, B planes
        labels = [int(i % 10) for i in range(per_batch)]
        batches[name] = (data, labels)
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels}, f)
    with open(folder / "batches.meta", "wb") as f:
        names = ["airplane", "automobile", "bird", "cat", "deer"]
        names += ["dog", "frog", "horse", "ship", "truck"]
        pickle.dump({"label_names": names, "num_vis": 3072}, f)
    return batches


def test_cifar10_reads_python_batches(tmp_path):
    batches = write_cifar(tmp_path)
    raw = load_raw("cifar10", tmp_path)
    assert raw.x_train.shape == (100, 3, 32, 32) and raw.x_test.shape == (20, 3, 32, 32)
    first, _ = batches["data_batch_1"]
    # channel planes: the first 1024 bytes of a row are red, row-major
    np.testing.assert_array_equal(raw.x_train[0, 0], first[0, :1024].reshape(32, 32))
    np.testing.assert_array_equal(raw.x_train[1, 2], first[1, 2048:].reshape(32, 32))
    assert raw.class_names[9] == "truck" and raw.augment
    splits = make_splits(raw, 0.2, 0.5, seed=0)
    assert splits.sizes() == {"train": 80, "val": 20, "test": 20}
    assert splits.augment and len(splits.mean) == 3


def write_pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


ROW = "(a 32x32 RGB image per row; N = 10,000 as shipped)"
CIFAR_DEFECTS = {  # batch (or meta) written in place of data_batch_3 -> error after "<file>"
    "wrong row width": (
        {"data": np.zeros((20, 3071), np.uint8), "labels": [0] * 20},
        f": data is (20, 3071) uint8, expected (N, 3072) uint8 {ROW}",
    ),
    "not uint8": (
        {"data": np.zeros((20, 3072), np.int64), "labels": [0] * 20},
        f": data is (20, 3072) int64, expected (N, 3072) uint8 {ROW}",
    ),
    "flat data": (
        {"data": np.zeros(20 * 3072, np.uint8), "labels": [0] * 20},
        f": data is (61440,) uint8, expected (N, 3072) uint8 {ROW}",
    ),
    "label out of range": (
        {"data": np.zeros((20, 3072), np.uint8), "labels": [0] * 6 + [10] + [0] * 13},
        " item 7: label 10, expected 0-9",
    ),
    "labels short": (
        {"data": np.zeros((20, 3072), np.uint8), "labels": [0] * 19},
        ": 19 labels, expected 20, one per row of data",
    ),
    "cifar-100 keys": (
        {"data": np.zeros((20, 3072), np.uint8), "fine_labels": [0] * 20},
        ": keys ['data', 'fine_labels'], expected a dict with keys data, labels",
    ),
    "not a dict": ([1, 2], ": keys list, expected a dict with keys data, labels"),
}


@pytest.mark.parametrize("defect", list(CIFAR_DEFECTS))
def test_cifar10_batch_defect_one_exact_line(tmp_path, defect):
    batch, expected = CIFAR_DEFECTS[defect]
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    write_pickle(path, batch)
    with pytest.raises(RawFormatError) as info:
        load_raw("cifar10", tmp_path)
    assert str(info.value) == f"{path}{expected}"


def test_cifar10_truncated_batch_and_wrong_meta_one_line(tmp_path):
    write_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    data = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(data[: len(data) // 2])
    with pytest.raises(RawFormatError) as info:
        load_raw("cifar10", tmp_path)
    one_line(
        info, f"{folder / 'test_batch'}: does not unpickle (", "expected a CIFAR-10 python batch"
    )

    write_pickle(folder / "test_batch", {"data": np.zeros((4, 3072), np.uint8), "labels": [1] * 4})
    write_pickle(folder / "batches.meta", {"label_names": ["cat", "dog"]})
    with pytest.raises(RawFormatError) as info:
        load_raw("cifar10", tmp_path)
    assert str(info.value) == (
        f"{folder / 'batches.meta'}: label_names ['cat', 'dog'], expected airplane, automobile, "
        "bird, cat, deer, dog, frog, horse, ship, truck"
    )


def test_cifar10_offline_one_line(tmp_path, monkeypatch):
    offline(monkeypatch)
    with pytest.raises(DataUnavailableError) as info:
        load_raw("cifar10", tmp_path)
    one_line(info, tmp_path / "cifar-10-batches-py", "cifar-10-python.tar.gz", "data_batch_5")
    assert not (tmp_path / "cifar-10-python.tar.gz").exists()


# --- ImageNet: train/<wnid>/*.JPEG and val/<wnid>/*.JPEG --------------------------------------


def write_imagenet(root, classes=6, train=4, val=2):
    from torchvision.io import write_jpeg

    wnids = [f"n{1440764 + i:08d}" for i in range(classes)]
    for part, count in (("train", train), ("val", val)):
        for c, w in enumerate(wnids):
            folder = root / "imagenet" / part / w
            folder.mkdir(parents=True)
            for k in range(count):
                img = torch.full((3, 40, 48), 20 * c, dtype=torch.uint8)
                img[:, :, :24] += 10 * k  # left half brighter per image
                write_jpeg(img, str(folder / f"{w}_{k}.JPEG"), quality=95)
    return wnids


def test_imagenet_folder_subset_cap_and_resize(tmp_path):
    wnids = write_imagenet(tmp_path)
    raw = load_raw("imagenet", tmp_path)
    assert raw.num_classes == 6 and raw.class_names == wnids and raw.topk == (1, 5)
    assert raw.x_train.dtype == object  # paths: decoded after the subset and cap
    data = {"classes": 5, "per_class": 3, "image_size": 16}
    splits = make_splits(raw, 0.4, 0.5, seed=0, data_params=data)
    # 5 classes x 3 capped train images, val carved from them; val/ is the test split
    assert splits.sizes() == {"train": 9, "val": 6, "test": 10}
    assert splits.x_train.shape[1:] == (3, 16, 16) and splits.x_train.dtype == torch.uint8
    assert set(splits.y_test.tolist()) == set(range(5)) and splits.num_classes == 5
    assert splits.topk == (1, 5) and splits.class_names == wnids[:5]
    # resize 40x48 -> short side 18, centre crop 16: a flat class colour stays flat
    test = splits.x_test[splits.y_test == 3].float()
    assert test[:, :, :, 10:].mean().item() == pytest.approx(60, abs=2)


def test_imagenet_normalisation_for_pretrained_weights(tmp_path):
    from nonlinearity.data import to_device

    write_imagenet(tmp_path, classes=2, train=3, val=1)
    raw = load_raw("imagenet", tmp_path)
    data = {"image_size": 8, "normalize": "imagenet"}
    splits = make_splits(raw, 0.5, 0.5, seed=0, data_params=data)
    assert splits.mean == pytest.approx([123.675, 116.28, 103.53])
    assert splits.std == pytest.approx([58.395, 57.12, 57.375])
    x = to_device(splits, "cpu", augment=False).x_test
    expected = (splits.x_test.float() / 255 - 0.485) / 0.229  # torchvision's Normalize
    torch.testing.assert_close(x[:, 0], expected[:, 0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="data.normalize 'z' is unknown; valid: train, imagenet"):
        make_splits(raw, 0.5, 0.5, seed=0, data_params={**data, "normalize": "z"})


def test_imagenet_too_few_for_a_stratified_val_one_line(tmp_path):
    write_imagenet(tmp_path, classes=5, train=3, val=1)
    raw = load_raw("imagenet", tmp_path)
    with pytest.raises(ConfigError) as info:
        make_splits(raw, 0.2, 0.5, seed=0, data_params={"image_size": 8})
    one_line(info, "data.val_fraction 0.2 of 15 samples", "5 classes")


def test_imagenet_fewer_than_five_classes_reports_top1_only(tmp_path):
    write_imagenet(tmp_path, classes=3, train=2, val=1)
    raw = load_raw("imagenet", tmp_path)
    splits = make_splits(raw, 0.5, 0.5, seed=0, data_params={"classes": 2, "image_size": 8})
    assert splits.topk == (1,)


def test_imagenet_folder_defects_one_exact_line(tmp_path):
    wnids = write_imagenet(tmp_path, classes=2, train=2, val=1)
    train, val = tmp_path / "imagenet" / "train", tmp_path / "imagenet" / "val"

    def error():
        with pytest.raises(RawFormatError) as info:
            load_raw("imagenet", tmp_path)
        return str(info.value)

    (train / "cats").mkdir()  # a class folder that is not a wnid
    assert error() == (
        f"{train / 'cats'}: folder name 'cats' is not a WordNet id, "
        "expected n and 8 digits (e.g. n01440764)"
    )
    (train / "cats").rmdir()
    (train / "n09999999").mkdir()  # a class without images
    (train / "n09999999" / "notes.txt").write_text("to do")
    assert error() == f"{train / 'n09999999'}: no images, expected at least one .JPEG, .jpg or .png"
    (train / "n09999999" / "notes.txt").unlink()
    (train / "n09999999").rmdir()
    bad = train / wnids[1] / "broken.JPEG"  # an HTML error page saved as a JPEG
    bad.write_bytes(b"<html><head>404</head></html>")
    assert error() == f"{bad}: starts with b'<html><h', expected a JPEG or PNG image that decodes"
    bad.write_bytes(b"")
    assert error() == f"{bad}: starts with b'', expected a JPEG or PNG image that decodes"
    bad.unlink()
    (val / "ILSVRC2012_val_00000001.JPEG").write_bytes(
        next((train / wnids[0]).iterdir()).read_bytes()
    )
    assert error() == (
        f"{val}: 1 image directly in the folder (e.g. ILSVRC2012_val_00000001.JPEG), expected "
        "them in <wnid>/ class folders (ImageNet's val ships flat: sort it into class folders "
        "by the devkit's labels)"
    )


def test_imagenet_missing_one_line(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        load_raw("imagenet", tmp_path)
    one_line(info, tmp_path / "imagenet" / "train", "<wnid>/*.JPEG")


# --- Adult: the UCI files adult.data and adult.test -------------------------------------------

ADULT_DATA = """\
39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K
50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0, 13, United-States, <=50K
38, Private, 215646, HS-grad, 9, Divorced, Handlers-cleaners, Not-in-family, White, Male, 0, 0, 40, United-States, <=50K
53, Private, 234721, 11th, 7, Married-civ-spouse, Handlers-cleaners, Husband, Black, Male, 0, 0, 40, United-States, <=50K
28, Private, 338409, Bachelors, 13, Married-civ-spouse, Prof-specialty, Wife, Black, Female, 0, 0, 40, Cuba, <=50K
37, Private, 284582, Masters, 14, Married-civ-spouse, Exec-managerial, Wife, White, Female, 0, 0, 40, United-States, <=50K
49, Private, 160187, 9th, 5, Married-spouse-absent, Other-service, Not-in-family, Black, Female, 0, 0, 16, Jamaica, <=50K
52, Self-emp-not-inc, 209642, HS-grad, 9, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0, 45, United-States, >50K
31, Private, 45781, Masters, 14, Never-married, Prof-specialty, Not-in-family, White, Female, 14084, 0, 50, United-States, >50K
42, Private, 159449, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, 5178, 0, 40, United-States, >50K
37, Private, 280464, Some-college, 10, Married-civ-spouse, Exec-managerial, Husband, Black, Male, 0, 0, 80, United-States, >50K
30, State-gov, 141297, Bachelors, 13, Married-civ-spouse, Prof-specialty, Husband, Asian-Pac-Islander, Male, 0, 0, 40, India, >50K
23, Private, 122272, Bachelors, 13, Never-married, Adm-clerical, Own-child, White, Female, 0, 0, 30, United-States, <=50K
32, Private, 205019, Assoc-acdm, 12, Never-married, Sales, Not-in-family, Black, Male, 0, 0, 50, United-States, <=50K
40, Private, 121772, Assoc-voc, 11, Married-civ-spouse, Craft-repair, Husband, Asian-Pac-Islander, Male, 0, 0, 40, ?, >50K
34, Private, 245487, 7th-8th, 4, Married-civ-spouse, Transport-moving, Husband, Amer-Indian-Eskimo, Male, 0, 0, 45, Mexico, <=50K
25, Self-emp-not-inc, 176756, HS-grad, 9, Never-married, Farming-fishing, Own-child, White, Male, 0, 0, 35, United-States, <=50K
32, Private, 186824, HS-grad, 9, Never-married, Machine-op-inspct, Unmarried, White, Male, 0, 0, 40, United-States, <=50K
38, Private, 28887, 11th, 7, Married-civ-spouse, Sales, Husband, White, Male, 0, 0, 50, United-States, <=50K
43, Self-emp-not-inc, 292175, Masters, 14, Divorced, Exec-managerial, Unmarried, White, Female, 0, 0, 45, United-States, >50K
"""
ADULT_TEST = """\
|1x3 Cross validator
25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, Male, 0, 0, 40, United-States, <=50K.
38, Private, 89814, HS-grad, 9, Married-civ-spouse, Farming-fishing, Husband, White, Male, 0, 0, 50, United-States, <=50K.
28, Local-gov, 336951, Assoc-acdm, 12, Married-civ-spouse, Protective-serv, Husband, White, Male, 0, 0, 40, United-States, >50K.
44, Private, 160323, Some-college, 10, Married-civ-spouse, Machine-op-inspct, Husband, Black, Male, 7688, 0, 40, United-States, >50K.
18, ?, 103497, Some-college, 10, Never-married, ?, Own-child, White, Female, 0, 0, 30, Scotland, <=50K.
"""


def write_adult(root, data=ADULT_DATA + "\n", test=ADULT_TEST):
    """The UCI pair; adult.data ends in a blank line, as shipped. None: leave the file out."""
    folder = root / "adult"
    folder.mkdir()
    for name, text in (("adult.data", data), ("adult.test", test)):
        if text is not None:
            (folder / name).write_text(text)
    return folder


def test_adult_uci_files(tmp_path):
    write_adult(tmp_path)
    raw = load_raw("adult", tmp_path)
    assert raw.kind == "tabular" and len(raw.x_train) == 20 and len(raw.x_test) == 5
    assert raw.y_train.sum() == 7 and raw.y_test.tolist() == [0, 0, 1, 1, 0]  # "." dropped
    assert raw.x_test["workclass"].isna().tolist() == [False] * 4 + [True]  # "?" is missing
    splits = make_splits(raw, 0.25, 0.5, seed=0)
    features = splits.info["features"]
    # numerics standardised on the training split only
    age = features.index("num__age")
    assert splits.x_train[:, age].mean().item() == pytest.approx(0.0, abs=1e-6)
    assert splits.x_train[:, age].std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)

    # categoricals one-hot; a test-only category (Scotland) is all zeros, a missing one imputed
    def one_hot(column):
        return [i for i, f in enumerate(features) if f.startswith(f"cat__{column}_")]

    assert "cat__native-country_Scotland" not in features
    assert splits.x_test[4, one_hot("native-country")].sum().item() == 0.0
    assert splits.x_test[4, one_hot("workclass")].sum().item() == 1.0  # "?" -> most frequent
    assert not torch.isnan(splits.x_test).any()


def test_adult_checked_file_parses_as_before(tmp_path):
    """The check only reads: the frame is what pandas made of the files without it."""
    import pandas as pd

    folder = write_adult(tmp_path)
    raw = load_raw("adult", tmp_path)
    for name, x, y in (
        ("adult.data", raw.x_train, raw.y_train),
        ("adult.test", raw.x_test, raw.y_test),
    ):
        plain = pd.read_csv(
            folder / name,
            header=None,
            names=list(ADULT_COLUMNS),
            skipinitialspace=True,
            na_values="?",
            comment="|",
        ).dropna(subset=["class"])
        labels = plain.pop("class").str.rstrip(".").eq(">50K").to_numpy(np.int64)
        pd.testing.assert_frame_equal(x, plain.reset_index(drop=True))
        np.testing.assert_array_equal(y, labels)
    numeric = list(raw.x_train.select_dtypes("number").columns)  # standardised, not one-hot
    assert numeric == [
        "age",
        "fnlwgt",
        "education-num",
        "capital-gain",
        "capital-loss",
        "hours-per-week",
    ]


COLUMNS = "age, workclass, fnlwgt, education, education-num, marital-status, occupation, relationship, race, sex, capital-gain, capital-loss, hours-per-week, native-country, class"
WORKCLASS = "Private, Self-emp-not-inc, Self-emp-inc, Federal-gov, Local-gov, State-gov, Without-pay, Never-worked"
HEADER = "|1x3 Cross validator"


def edit_line(text, n, edit):
    lines = text.split("\n")
    lines[n - 1] = edit(lines[n - 1])
    return "\n".join(lines)


# (file, 1-based line, edit of that line, the error after "<file> line <n>: ")
ADULT_DEFECTS = {
    "extra field": ("adult.data", 17, lambda s: s + ", 0", f"16 fields, expected 15 ({COLUMNS})"),
    "missing field": (
        "adult.data",
        4,
        lambda s: s.replace(" 234721,", ""),
        f"14 fields, expected 15 ({COLUMNS})",
    ),
    "empty field": (
        "adult.data",
        5,
        lambda s: s.replace("Prof-specialty", ""),
        "occupation '' is not a known category (Tech-support, Craft-repair, Other-service, Sales, Exec-managerial, Prof-specialty, Handlers-cleaners, Machine-op-inspct, ... 14 in all)",
    ),
    "not a number": ("adult.data", 3, lambda s: "abc" + s[2:], "age 'abc' is not a number"),
    "unknown category": (
        "adult.data",
        9,
        lambda s: s.replace("Private", "Privat"),
        f"workclass 'Privat' is not a known category ({WORKCLASS}); did you mean 'Private'?",
    ),
    "trailing space": (
        "adult.data",
        2,
        lambda s: s.replace("Male,", "Male ,"),
        "sex 'Male ' is not a known category (Female, Male); did you mean 'Male'?",
    ),
    "test label in adult.data": (
        "adult.data",
        8,
        lambda s: s + ".",
        "class '>50K.' is not a label of adult.data, expected <=50K or >50K",
    ),
    "data label in adult.test": (
        "adult.test",
        3,
        lambda s: s.rstrip("."),
        "class '<=50K' is not a label of adult.test, expected <=50K. or >50K.",
    ),
    "missing label": (
        "adult.test",
        2,
        lambda s: s.replace("<=50K.", "?"),
        "class '?' is not a label of adult.test, expected <=50K. or >50K.",
    ),
    "header twice": (
        "adult.test",
        4,
        lambda s: HEADER,
        f"header {HEADER!r}, expected a record (a header belongs on line 1 of adult.test only)",
    ),
    "header in adult.data": (
        "adult.data",
        1,
        lambda s: HEADER,
        f"header {HEADER!r}, expected a record (a header belongs on line 1 of adult.test only)",
    ),
    "header not first": ("adult.test", 1, lambda s: "", f"'', expected the header {HEADER!r}"),
    "column names": (
        "adult.data",
        1,
        lambda s: COLUMNS,
        "a row of column names, expected a record (the UCI files have no column-name header)",
    ),
}


@pytest.mark.parametrize("defect", list(ADULT_DEFECTS))
def test_adult_defect_one_exact_line(tmp_path, defect):
    name, line, edit, expected = ADULT_DEFECTS[defect]
    texts = {"adult.data": ADULT_DATA + "\n", "adult.test": ADULT_TEST}
    texts[name] = edit_line(texts[name], line, edit)
    folder = write_adult(tmp_path, texts["adult.data"], texts["adult.test"])
    with pytest.raises(RawFormatError) as info:
        load_raw("adult", tmp_path)
    assert str(info.value) == f"{folder / name} line {line}: {expected}"


def test_adult_not_utf8_names_the_line(tmp_path):
    folder = write_adult(tmp_path)
    data = (ADULT_DATA + "\n").replace("Cuba", "Cub\xe9").encode("latin1")
    (folder / "adult.data").write_bytes(data)
    with pytest.raises(RawFormatError) as info:
        load_raw("adult", tmp_path)
    assert (
        str(info.value) == f"{folder / 'adult.data'} line 5: byte 0xe9 is not UTF-8, expected text"
    )


@pytest.mark.parametrize("missing", ["adult.test", "adult.data"])
def test_adult_one_of_the_pair_missing_names_it(tmp_path, monkeypatch, missing):
    offline(monkeypatch)
    texts = {"adult.data": ADULT_DATA, "adult.test": ADULT_TEST, missing: None}
    folder = write_adult(tmp_path, texts["adult.data"], texts["adult.test"])
    with pytest.raises(DataUnavailableError) as info:
        load_raw("adult", tmp_path)
    assert str(info.value) == (
        f"{folder / missing} is missing: UCI Adult needs both adult.data and adult.test in "
        f"{folder}/ (from the UCI archive, archive.ics.uci.edu/dataset/2)"
    )


def test_adult_offline_one_line(tmp_path, monkeypatch):
    offline(monkeypatch)
    with pytest.raises(DataUnavailableError) as info:
        load_raw("adult", tmp_path)
    one_line(info, tmp_path / "adult", "adult.data", "adult.test", "OpenML")


def test_breast_cancer_bundled():
    raw = load_raw("breast_cancer", "unused")
    splits = make_splits(raw, 0.1, 0.2, seed=0)
    assert splits.x_train.shape[1] == 30 and splits.kind == "tabular"
    assert sum(splits.sizes().values()) == 569


# --- SST-2: a DatasetDict saved with save_to_disk -----------------------------------------------


def write_sst2(root, labels=(1, 0, 1, 0) * 5, text="sentence"):
    import datasets

    sentences = ["a gripping film", "dull and lifeless", "warm and funny", "a tedious mess"] * 5
    labels = list(labels)
    ds = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(
                {text: sentences, "label": labels, "idx": list(range(20))}
            ),
            "validation": datasets.Dataset.from_dict(
                {"sentence": sentences[:6], "label": labels[:6], "idx": list(range(6))}
            ),
            "test": datasets.Dataset.from_dict(
                {"sentence": sentences[:3], "label": [-1] * 3, "idx": list(range(3))}
            ),
        }
    )
    ds.save_to_disk(str(root / "sst2"))


def test_sst2_validation_is_test_and_val_comes_from_train(tmp_path):
    write_sst2(tmp_path)
    raw = load_raw("sst2", tmp_path)
    assert raw.kind == "text" and raw.x_train[0] == "a gripping film"
    splits = make_splits(raw, 0.2, 0.5, seed=0)
    assert splits.sizes() == {"train": 16, "val": 4, "test": 6}
    assert -1 not in splits.y_test.tolist()  # the unlabelled test split is not used


def test_sst2_defects_one_exact_line(tmp_path):
    folder = tmp_path / "sst2"
    write_sst2(tmp_path, labels=[1, 0, 2] + [0] * 17)
    with pytest.raises(RawFormatError) as info:
        load_raw("sst2", tmp_path)
    assert str(info.value) == f"{folder} train row 3: label 2, expected 0 or 1 (negative, positive)"

    shutil.rmtree(folder)
    write_sst2(tmp_path, text="text")
    with pytest.raises(RawFormatError) as info:
        load_raw("sst2", tmp_path)
    assert (
        str(info.value)
        == f"{folder} train: columns ['text', 'label', 'idx'], expected sentence, label"
    )

    shutil.rmtree(folder)
    folder.mkdir()
    (folder / "train.tsv").write_text("sentence\tlabel\na gripping film\t1\n")
    with pytest.raises(RawFormatError) as info:
        load_raw("sst2", tmp_path)
    one_line(info, f"{folder}: does not load (", "expected a DatasetDict saved with save_to_disk")


def test_sst2_offline_one_line(tmp_path, monkeypatch):
    offline(monkeypatch)
    with pytest.raises(DataUnavailableError) as info:
        load_raw("sst2", tmp_path)
    one_line(info, tmp_path / "sst2", "save_to_disk")


def test_synthetic_sentiment_is_named_and_labelled():
    raw = load_raw("sentiment_synthetic", "unused")
    assert raw.synthetic and raw.name.endswith("_synthetic")
    assert len(raw.x_train) == 2000 and 0.4 < raw.y_train.mean() < 0.6
    pos = {"good", "great", "wonderful", "brilliant"}
    for x, y in zip(raw.x_train[:200], raw.y_train[:200], strict=True):
        words = x.split()
        if "not" not in words and pos & set(words):
            assert y == 1, x
