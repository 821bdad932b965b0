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


def test_one_version_in_app_yaml_the_outputs_and_the_changelog():
    """``APP_VERSION`` (what the report, SoftwareVersions, the derivation text and the UIDs carry) is the
    version app.yaml packages and the newest in CHANGELOG.md."""
    import re

    import yaml

    from operators.derived_series import APP_VERSION

    spec = yaml.safe_load((ROOT / "app.yaml").read_text())
    assert str(spec["application"]["version"]) == APP_VERSION
    newest = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert newest and newest.group(1) == APP_VERSION
