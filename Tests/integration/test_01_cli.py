"""Command line: version, self-test and configuration errors, on every architecture."""
import re


def test_version_names_the_architecture(fw):
    r = fw.run("--version")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(rf"pgui \d+\.\d+\.\d+ \({fw.arch}\)\n", r.stdout)


def test_self_test_passes(fw, tmp_path):
    r = fw.run("self-test", env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "self-test passed" in r.stdout
    assert "FAIL" not in r.stdout


def test_no_arguments_is_a_usage_error(fw):
    r = fw.run()
    assert r.returncode == 2
    assert "usage: pgui run --config FILE" in r.stderr


def test_unknown_command(fw):
    r = fw.run("frobnicate")
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr


def test_valid_config_checks_ok(fw, config):
    path = config("meter.period_ms = 500\n")
    r = fw.run("check", "--config", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{path}: ok\n"


BAD = [
    ("meter.peroid_ms = 500\n", 3, "unknown key 'meter.peroid_ms'"),
    ("meter.period_ms = fast\n", 3, "meter.period_ms: 'fast' is not an integer"),
    ("meter.period_ms = 99\n", 3, "meter.period_ms: 99 is out of range 100...60000"),
    ("\n# comment\nthis line has no equals sign\n", 5, "expected 'key = value'"),
    ("log.level = debug\nlog.level = info\n", 4, "duplicate key 'log.level' (first set on line 3)"),
]


def test_malformed_config_names_file_and_line(fw, config):
    for extra, line, message in BAD:
        path = config(extra)
        for verb in ("check", "run"):
            r = fw.run(verb, "--config", path, timeout=30)
            assert r.returncode == 2, (extra, r.stderr)
            assert f"{path}:{line}: {message}" in r.stderr, (extra, r.stderr)


def test_missing_required_key_and_missing_file(fw, config, tmp_path):
    path = config("device.id = gw-1\n", base=False)
    r = fw.run("run", "--config", path)
    assert r.returncode == 2
    assert f"{path}: required key 'data.dir' is missing" in r.stderr
    r = fw.run("run", "--config", tmp_path / "nope.conf")
    assert r.returncode == 2
    assert "nope.conf: No such file or directory" in r.stderr


def test_binary_config_is_rejected_cleanly(fw, tmp_path):
    path = tmp_path / "garbage.conf"
    path.write_bytes(bytes(range(256)) * 4)
    r = fw.run("check", "--config", path)
    assert r.returncode == 2
    assert f"{path}:1: control character" in r.stderr
