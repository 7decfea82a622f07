from pwlgen.cli import main


def test_plot_writes_a_png(tmp_path, capsys):
    assert main(["search", "--method", "lstsq", "-o", str(tmp_path)]) == 0
    out = tmp_path / "fig.png"
    assert main(["plot", str(tmp_path / "gelu_lstsq_k2.yaml"), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_of_a_missing_file_is_exit_2(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.startswith("pwlgen: error: cannot read")


def test_plot_rejects_unknown_image_suffix(tmp_path, capsys):
    assert main(["search", "--method", "lstsq", "-o", str(tmp_path)]) == 0
    assert main(["plot", str(tmp_path / "gelu_lstsq_k2.yaml"), "-o", str(tmp_path / "x.bmp")]) == 2
    assert not (tmp_path / "x.bmp").exists()
