"""The install leaves the full fastText (not the predict-only module of the same name) importable."""

from pipeline_helpers import shared


def test_fasttext_can_train(tmp_path):
    import fasttext

    assert hasattr(fasttext, "train_supervised"), "fasttext-predict shadows the full fasttext: see the Makefile"
    lines = []
    for lang in ("en", "de"):
        sentences = shared("langid", "lingua", "sentences", f"{lang}.txt").read_text(encoding="utf-8").splitlines()
        lines += [f"__label__{lang} {s}" for s in sentences[:300]]
    data = tmp_path / "train.txt"
    data.write_text("\n".join(lines), encoding="utf-8")
    model = fasttext.train_supervised(str(data), epoch=25, lr=0.1, thread=1, seed=1, verbose=0)
    assert model.predict("Das ist ein schöner Tag und wir gehen nach Hause")[0][0] == "__label__de"
