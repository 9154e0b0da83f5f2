"""Which images the e2e suite runs: the local provider's refs unless the environment says
otherwise (the kind provider sets them to what it loaded)."""

from __future__ import annotations

import os


def mysql_image() -> str:
    if "MOCO_E2E_MYSQL_IMAGE" in os.environ:
        return os.environ["MOCO_E2E_MYSQL_IMAGE"]
    from e2e.local import images

    return images.ImageDef("mysql", images.mysql_tag(), ()).ref


def shell_image() -> str:
    """An image with a POSIX shell, nslookup and nc (busybox)."""
    if "MOCO_E2E_SHELL_IMAGE" in os.environ:
        return os.environ["MOCO_E2E_SHELL_IMAGE"]
    from e2e.local import images

    return images.busybox_image().ref


def pull_policy() -> str:
    return os.environ.get("MOCO_E2E_PULL_POLICY", "IfNotPresent")
