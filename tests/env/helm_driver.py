"""Helm for the tests, through Helm v4's Go SDK (PyPI `helm-python-sdk`, see tests/env/helm.sh).

Run with the venv's python (`bash tests/env/helm.sh python`):

    helm_driver.py lint      CHART [--values JSON]
    helm_driver.py validate  CHART [--values JSON]            values.schema.json only
    helm_driver.py render    CHART --name N --namespace NS [--values JSON]
    helm_driver.py install   CHART --name N --namespace NS --kubeconfig FILE [--values JSON]
                             [--skip-crds]
    helm_driver.py uninstall       --name N --namespace NS --kubeconfig FILE

Prints one JSON document on stdout: {"ok": true, "result": ...} (lint: the report; render: the
manifests by template path, plus the CRDs under "crds"; install: the release summary), or
{"ok": false, "error": "<HelmError class>", "message": ...} with exit code 1 when Helm refused.
Any other exit code is a failure of the driver itself (stderr says why).
"""

from __future__ import annotations

import argparse
import json
import sys

import helm_python as helm
from helm_python import _native


def run(args: argparse.Namespace) -> object:
    values = json.loads(args.values) if args.values else None
    if args.command == "lint":
        # strict: warnings fail too; kube_version: the oldest server the chart supports, so
        # `kubeVersion` in Chart.yaml and API versions are checked against what CI runs.
        return helm.lint(args.chart, values, strict=True, kube_version=args.kube_version)
    if args.command == "validate":
        with helm.Chart.load(args.chart) as chart:
            chart.validate_schema(values)
        return None
    if args.command == "render":
        with helm.Chart.load(args.chart) as chart:
            # The SDK's offline render does not check the schema (an install does): check it
            # first, so a render the tests accept is one an install would accept.
            chart.validate_schema(values)
            manifests = chart.render(
                values, name=args.name, namespace=args.namespace, is_install=True
            )
            return {"manifests": manifests, "crds": [c["data"] for c in chart.crds]}
    if args.command == "install":
        with helm.Config(kubeconfig_path=args.kubeconfig, namespace=args.namespace) as cfg:
            if not args.skip_crds:
                return cfg.install(
                    args.chart, args.name, values, namespace=args.namespace, timeout=120
                )
            # `helm install --skip-crds`: Config.install (0.2.2, pinned) does not forward the
            # option, which the C ABI under it (libhelm_c's helm_install) takes; this is that
            # method's own call with the one option added.
            handle, ref = cfg._chart_args(args.chart)
            opts = {"namespace": args.namespace, "timeout_seconds": 120, "skip_crds": True}
            payload = _native.call_string(
                "helm_install",
                cfg._raw(),
                cfg._context_arg(None),
                handle,
                ref,
                args.name,
                None if values is None else json.dumps(values),
                json.dumps(opts),
            )
            return json.loads(payload)
    if args.command == "uninstall":
        with helm.Config(kubeconfig_path=args.kubeconfig, namespace=args.namespace) as cfg:
            return cfg.uninstall(args.name, timeout=120)
    raise AssertionError(args.command)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["lint", "validate", "render", "install", "uninstall"])
    p.add_argument("chart", nargs="?")
    p.add_argument("--values", help="values as a JSON object")
    p.add_argument("--name")
    p.add_argument("--namespace")
    p.add_argument("--kubeconfig")
    p.add_argument("--kube-version", default="v1.20.2")
    p.add_argument("--skip-crds", action="store_true")
    args = p.parse_args()
    try:
        result = run(args)
    except helm.HelmError as exc:
        print(json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc)}))
        return 1
    print(json.dumps({"ok": True, "result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
