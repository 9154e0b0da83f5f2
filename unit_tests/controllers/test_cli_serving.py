"""``moco-controller``'s probe and metrics flags (controller-runtime's and MOCO's names), their
environment defaults, and the combinations refused with a message naming the flags."""

from __future__ import annotations

import argparse

import pytest

from moco.cli.controller import HttpServing, http_serving, main, parser

ENV = (
    "MOCO_HTTP_BIND_ADDRESS",
    "MOCO_HEALTH_PROBE_BIND_ADDRESS",
    "MOCO_METRICS_BIND_ADDRESS",
    "MOCO_METRICS_SECURE",
)
ANY = "0.0.0.0"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("argv", "env", "want"),
    [
        # MOCO's and controller-runtime's layout: probes 8081, metrics 8080, plain
        ([], {}, HttpServing((ANY, 8081), (ANY, 8080))),
        (["--metrics-bind-address=0"], {}, HttpServing((ANY, 8081), None)),
        (["--metrics-addr=:9090", "--health-probe-addr=:9091"], {}, HttpServing((ANY, 9091), (ANY, 9090))),
        (
            ["--metrics-bind-address=127.0.0.1:8443", "--metrics-secure"],
            {},
            HttpServing((ANY, 8081), ("127.0.0.1", 8443), secure=True),
        ),
        ([], {"MOCO_METRICS_SECURE": "true"}, HttpServing((ANY, 8081), (ANY, 8080), secure=True)),
        ([], {"MOCO_METRICS_BIND_ADDRESS": "0"}, HttpServing((ANY, 8081), None)),
        (
            ["--metrics-bind-address=:7000"],
            {"MOCO_METRICS_BIND_ADDRESS": "0"},
            HttpServing((ANY, 8081), (ANY, 7000)),
        ),
        # moco's earlier single server
        (["--http-bind-address=:8081"], {}, HttpServing((ANY, 8081), (ANY, 8081), beside_probes=True)),
        ([], {"MOCO_HTTP_BIND_ADDRESS": ":9000"}, HttpServing((ANY, 9000), (ANY, 9000), beside_probes=True)),
    ],
)
def test_serving(
    argv: list[str], env: dict[str, str], want: HttpServing, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert http_serving(parser().parse_args(argv)) == want


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--http-bind-address=:8081", "--metrics-bind-address=:8080"], "--http-bind-address"),
        (["--http-bind-address=:8081", "--metrics-secure"], "--metrics-secure"),
        (["--metrics-bind-address=0", "--metrics-secure"], "--metrics-bind-address=0"),
        (["--metrics-bind-address=:8081"], "different ports"),
        (["--metrics-bind-address=nowhere"], "HOST:PORT"),
    ],
)
def test_contradictions_are_refused_naming_the_flags(argv: list[str], names: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=names):
        http_serving(parser().parse_args(argv))


def test_the_program_exits_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--metrics-bind-address=0", "--metrics-secure"])
    assert exc.value.code == 2
    assert "--metrics-secure" in capsys.readouterr().err
