"""``kubectl-moco``: the kubectl plugin (``kubectl moco ...``) and ``kubectl_complete-moco``.

kubectl runs any executable named ``kubectl-<name>`` on its ``PATH`` as ``kubectl <name>``; both
console scripts of this module land in the venv's ``bin``. Global flags are kubectl's
(``--kubeconfig``, ``--context``, ``-n/--namespace``, resolved by :mod:`moco.plugin.target`);
subcommands are MOCO's (``mysql``, ``credential``, ``switchover``, ``stop``/``start``
``clustering``/``reconciliation``) plus ``status``.

Exit codes: 0 done (or already so), 1 refused or failed (the message on stderr names the
cluster and what to do), 2 usage error, 3 ``switchover --wait`` timed out; ``mysql`` exits with
``kubectl exec``'s code (the process becomes ``kubectl``).

Shell completion (subcommands, flags, users, formats and cluster names read from the
apiserver): ``kubectl_complete-moco`` answers kubectl's own completion (kubectl >= 1.26 calls
it for ``kubectl moco <TAB>``), and ``kubectl-moco completion bash|zsh|fish`` prints a script
for the plugin run by its own name.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import click
from click.shell_completion import CompletionItem, ShellComplete, get_completion_class

from moco import constants
from moco.plugin import actions, commands, live, status
from moco.plugin.actions import Switch
from moco.plugin.errors import PluginError
from moco.plugin.session import COMPLETION_TIMEOUT, Session
from moco.plugin.target import Target, load

PROG: Final = "kubectl-moco"
COMPLETE_VAR: Final = "_KUBECTL_MOCO_COMPLETE"
#: cobra's ShellCompDirectiveNoFileComp / ShellCompDirectiveDefault, what kubectl reads last.
COBRA_NO_FILE: Final = 4
COBRA_DEFAULT: Final = 0
T = TypeVar("T")


@dataclass(frozen=True)
class Globals:
    kubeconfig: str | None
    context: str | None
    namespace: str | None

    def target(self) -> Target:
        return load(kubeconfig_flag=self.kubeconfig, context_flag=self.context, namespace_flag=self.namespace)


def _run(ctx: click.Context, work: Callable[[Session], Awaitable[T]]) -> T:
    """Resolve the target, open a session, run ``work``; a :class:`PluginError` ends the command."""
    g: Globals = ctx.find_object(Globals) or Globals(None, None, None)

    async def main() -> T:
        async with Session.open(g.target()) as session:
            return await work(session)

    try:
        return asyncio.run(main())
    except PluginError as e:
        click.echo(f"error: {e}", err=True)
        ctx.exit(e.exit_code)
    raise AssertionError("unreachable")


# --- completion ----------------------------------------------------------------------------------
def _complete_clusters(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Names of the MySQLClusters in the namespace the command line names (none on any failure)."""
    params = ctx.find_root().params
    try:
        target = load(
            kubeconfig_flag=params.get("kubeconfig"),
            context_flag=params.get("context"),
            namespace_flag=params.get("namespace"),
        )

        async def names() -> list[str]:
            async with Session.open(target, request_timeout=COMPLETION_TIMEOUT) as session:
                return await session.cluster_names()

        found = asyncio.run(asyncio.wait_for(names(), COMPLETION_TIMEOUT * 2))
    except (PluginError, TimeoutError, OSError):
        return []
    return [CompletionItem(n) for n in found if n.startswith(incomplete)]


def cluster_argument() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.argument("cluster", metavar="CLUSTER", shell_complete=_complete_clusters)


USER_OPTION = click.option(
    "-u",
    "--mysql-user",
    "user",
    type=click.Choice(actions.MYSQL_USERS),
    default=constants.READONLY_USER,
    show_default=True,
    help="MySQL user to act as",
)


# --- the commands --------------------------------------------------------------------------------
@click.group(name=PROG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--kubeconfig", metavar="PATH", help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
)
@click.option("--context", metavar="NAME", help="The kubeconfig context to use")
@click.option(
    "-n", "--namespace", metavar="NS", help="Namespace of the MySQLCluster (default: the context's)"
)
@click.version_option(package_name="moco", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
    """The kubectl plugin of moco (MOCO's `kubectl moco`)."""
    ctx.obj = Globals(kubeconfig, context, namespace)


@cli.command()
@USER_OPTION
@click.option("--index", type=int, default=None, help="Index of the instance  [default: the primary]")
@click.option("-i", "--stdin", is_flag=True, help="Pass stdin to mysql")
@click.option("-t", "--tty", is_flag=True, help="Allocate a TTY for mysql")
@cluster_argument()
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[-- MYSQL_ARGS...]")
@click.pass_context
def mysql(
    ctx: click.Context,
    user: str,
    index: int | None,
    stdin: bool,
    tty: bool,
    cluster: str,
    args: Sequence[str],
) -> None:
    """Run mysql in an instance of CLUSTER (kubectl exec into its mysqld container)."""
    kubectl = os.environ.get("KUBECTL", "kubectl")
    path = shutil.which(kubectl)
    if path is None:
        click.echo(f"error: {kubectl} is not on PATH: `mysql` runs `kubectl exec` (set KUBECTL)", err=True)
        ctx.exit(1)
    pod = _run(ctx, lambda s: commands.mysql_pod(s, cluster, index))
    g: Globals = ctx.find_object(Globals) or Globals(None, None, None)
    target = g.target()
    argv = actions.exec_argv(str(path), target, pod, user, stdin=stdin, tty=tty, args=args)
    sys.stdout.flush()
    os.execv(argv[0], argv)


class _CredentialGroup(click.Group):
    """MOCO's ``credential`` parent: ``credential [flags] CLUSTER`` (no subcommand) is ``show``."""

    #: options of ``show`` that take a value (their value is not the first positional)
    _VALUED = frozenset({"-u", "--mysql-user", "--format"})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        i = 0
        while i < len(args) and args[i].startswith("-") and args[i] not in ("-h", "--help"):
            i += 2 if args[i] in self._VALUED else 1
        # only flags (and values) before the end or the first positional: ``show``'s flags
        if args and args[0] not in ("-h", "--help") and (i >= len(args) or args[i] not in self.commands):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=_CredentialGroup)
def credential() -> None:
    """Show the credentials of CLUSTER, rotate its passwords, discard the old ones.

    `credential CLUSTER` is `credential show CLUSTER`, as before the subcommands.
    """


@credential.command(name="show")
@USER_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(actions.CREDENTIAL_FORMATS),
    default="plain",
    show_default=True,
    help="plain: the password; mycnf: a [client] option file",
)
@cluster_argument()
@click.pass_context
def credential_show(ctx: click.Context, user: str, fmt: str, cluster: str) -> None:
    """Print the password of a MySQL user of CLUSTER."""
    click.echo(_run(ctx, lambda s: commands.credential(s, cluster, user, fmt)), nl=False)


@credential.command(name="rotate")
@cluster_argument()
@click.pass_context
def credential_rotate(ctx: click.Context, cluster: str) -> None:
    """Rotate the passwords of moco's MySQL users of CLUSTER (old and new both work until
    `credential discard`)."""
    click.echo(_run(ctx, lambda s: commands.credential_rotate(s, cluster)), nl=False)


@credential.command(name="discard")
@cluster_argument()
@click.pass_context
def credential_discard(ctx: click.Context, cluster: str) -> None:
    """Discard the old passwords of CLUSTER's rotation once it is Rotated."""
    click.echo(_run(ctx, lambda s: commands.credential_discard(s, cluster)), nl=False)


@cli.command()
@click.option("--wait", is_flag=True, help="Wait until another instance is the primary")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds --wait waits")
@cluster_argument()
@click.pass_context
def switchover(ctx: click.Context, wait: bool, timeout: float, cluster: str) -> None:
    """Move the primary of CLUSTER to a replica."""
    click.echo(_run(ctx, lambda s: commands.switchover(s, cluster, wait=timeout if wait else None)), nl=False)


def _switch_group(stop: bool) -> click.Group:
    verb = "stop" if stop else "start"

    @click.group(name=verb)
    def group() -> None:
        pass

    group.help = f"{verb.capitalize()} the clustering or the reconciliation of a MySQLCluster."
    for switch in Switch:

        def make(sw: Switch) -> click.Command:
            @click.command(name=sw.noun)
            @cluster_argument()
            @click.pass_context
            def cmd(ctx: click.Context, cluster: str) -> None:
                click.echo(_run(ctx, lambda s: commands.set_switch(s, cluster, sw, stop=stop)), nl=False)

            cmd.help = f"{verb.capitalize()} the {sw.noun} of CLUSTER (annotation {sw.value})."
            return cmd

        group.add_command(make(switch))
    return group


cli.add_command(_switch_group(stop=True))
cli.add_command(_switch_group(stop=False))


@cli.command(name="status")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--live/--no-live",
    "live_figures",
    default=True,
    show_default=True,
    help="Read GTID sets, lag and semi-sync from each mysqld (kubectl exec, as moco-readonly)",
)
@cluster_argument()
@click.pass_context
def status_command(ctx: click.Context, output: str, live_figures: bool, cluster: str) -> None:
    """Show CLUSTER's instances, state and why, the next operation, the last switchover/failover
    and recent warnings and events."""
    reader: commands.LiveReader | None = None
    if live_figures:
        kubectl = shutil.which(os.environ.get("KUBECTL", "kubectl")) or os.environ.get("KUBECTL", "kubectl")
        g: Globals = ctx.find_object(Globals) or Globals(None, None, None)

        async def read(pods: Mapping[int, str]) -> dict[int, live.Live]:
            return await live.read_all(kubectl, g.target(), pods)

        reader = read

    report = _run(ctx, lambda s: commands.report(s, cluster, reader))
    if output == "json":
        click.echo(json.dumps(status.to_json(report), indent=2))
    else:
        click.echo(status.render(report, datetime.datetime.now(datetime.UTC)), nl=False)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script of kubectl-moco for SHELL (for `kubectl moco`, see the README)."""
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - the Choice admits only shells click knows
        raise click.UsageError(f"no completion for {shell}")
    click.echo(cls(cli, {}, PROG, COMPLETE_VAR).source())


# --- entry points --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    """``kubectl-moco``."""
    cli.main(args=list(argv) if argv is not None else None, prog_name=PROG, complete_var=COMPLETE_VAR)


def cobra_completions(args: Sequence[str]) -> str:
    """kubectl's plugin completion protocol (cobra's ``__complete``): one candidate a line
    (``value<TAB>help``), then ``:<directive>``. ``args`` end with the word being completed."""
    words = list(args)
    incomplete = words.pop() if words else ""
    items = ShellComplete(cli, {}, PROG, COMPLETE_VAR).get_completions(words, incomplete)
    lines = [f"{i.value}\t{i.help}" if i.help else str(i.value) for i in items]
    files = any(i.type in ("file", "dir") for i in items)
    lines.append(f":{COBRA_DEFAULT if files else COBRA_NO_FILE}")
    return "\n".join(lines) + "\n"


def complete() -> None:
    """``kubectl_complete-moco``: what kubectl runs to complete ``kubectl moco ...``."""
    sys.stdout.write(cobra_completions(sys.argv[1:]))


if __name__ == "__main__":
    main()
