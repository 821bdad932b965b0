"""The MAP configuration: app.yaml is what holoscan-cli 4.0.0's packager accepts, and the Dockerfile keeps
the Holoscan app-package layout."""
from app_helpers import ROOT


def test_app_yaml_is_accepted_by_the_packager():
    from holoscan_cli.packager.config_reader import ApplicationConfiguration

    cfg = ApplicationConfiguration()
    cfg.read(ROOT / "app.yaml")
    assert cfg.title().startswith("CT Harmonizer")


def test_dockerfile_layout():
    text = (ROOT / "Dockerfile").read_text()
    for needle in ("ARG BASE_IMAGE=", "/opt/holoscan/app", "/opt/holoscan/models", "/var/holoscan/input",
                   "/var/holoscan/output", "/etc/holoscan/", "USER holoscan", "ENTRYPOINT", "--no-index"):
        assert needle in text, needle
