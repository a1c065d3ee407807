"""`veracity-release` (or `python -m veracity_release`): the release checklist, a subcommand a step.

    veracity-release build      PyInstaller onedir build (+ --version smoke test)
    veracity-release package    Velopack installer + update feed (vpk pack)
    veracity-release sign       Authenticode-sign executables/installers (certificate from env)
    veracity-release verify     check Authenticode signatures
    veracity-release hash       SHA-256 of files, sha256sum format
    veracity-release publish    upload + verify + write metadata (refuses to overwrite)
    veracity-release env        IBKR_CONNECTOR_WINDOWS_* lines for env-configured servers

Exit status: 0 done, 1 the step failed (the message says why), 2 bad command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from veracity_release.build import SPEC_PATH, build_connector
from veracity_release.checksums import sha256_of_file
from veracity_release.environment import environment_lines
from veracity_release.errors import ReleaseError
from veracity_release.layout import DEFAULT_PREFIX, BucketLayout
from veracity_release.package import PackageOptions, package_release
from veracity_release.publish import PublishOptions, publish_release
from veracity_release.s3 import make_s3_client
from veracity_release.signing import load_signing_settings, sign_file, verify_file
from veracity_release.versioning import REPO_ROOT, project_version

DEFAULT_DIST = REPO_ROOT / "dist"
DEFAULT_BUILD_DIR = DEFAULT_DIST / "ibkr-connector"
DEFAULT_RELEASES_DIR = REPO_ROOT / "Releases"


def report(line: str) -> None:
    """Progress for the maintainer, on stdout (the CLI's own output, not logging)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def command_build(arguments: argparse.Namespace) -> None:
    """Build the connector with PyInstaller."""
    app_dir = build_connector(arguments.dist, arguments.work, report, spec=arguments.spec)
    report(f"built {app_dir}")


def command_package(arguments: argparse.Namespace) -> None:
    """Package a Windows build with Velopack."""
    options = PackageOptions(build_dir=arguments.build_dir, output_dir=arguments.output,
                             version=arguments.version or project_version(),
                             sign_params=arguments.sign_params,
                             azure_trusted_sign_file=arguments.azure_trusted_sign_file,
                             delta_from=arguments.delta_from,
                             cross_pack=arguments.cross_pack)
    report(f"packaged into {package_release(options, report)}")


def command_sign(arguments: argparse.Namespace) -> None:
    """Sign PE files in place with the configured certificate."""
    settings = load_signing_settings()
    for path in arguments.files:
        sign_file(path, settings, report)
        report(f"signed {path}")


def command_verify(arguments: argparse.Namespace) -> None:
    """Verify the Authenticode signature of PE files."""
    for path in arguments.files:
        verify_file(path, arguments.ca_file)
        report(f"verified {path}")


def warn(text: str) -> None:
    """A warning the maintainer must not miss, on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def command_hash(arguments: argparse.Namespace) -> None:
    """Print SHA-256 checksums."""
    for path in arguments.files:
        report(f"{sha256_of_file(path)}  {path}")


def command_publish(arguments: argparse.Namespace) -> None:
    """Upload a packaged release and write its metadata."""
    notes = arguments.notes
    if arguments.notes_file is not None:
        try:
            notes = arguments.notes_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ReleaseError(f"cannot read --notes-file: {error}") from error
    options = PublishOptions(
        releases_dir=arguments.releases_dir, version=arguments.version or project_version(),
        layout=BucketLayout(arguments.bucket, arguments.prefix), notes=notes,
        release_notes_url=arguments.release_notes_url, force=arguments.force,
        dry_run=arguments.dry_run, allow_unsigned=arguments.allow_unsigned,
    )
    publish_release(_client(arguments), options, report, warn)


def command_env(arguments: argparse.Namespace) -> None:
    """Print the environment lines for the published release."""
    lines = environment_lines(_client(arguments), BucketLayout(arguments.bucket, arguments.prefix),
                              presigned=arguments.presigned, expires_in_s=arguments.expires_in)
    for line in lines:
        report(line)


def _client(arguments: argparse.Namespace) -> object:
    return make_s3_client(arguments.endpoint_url, arguments.region)


def _add_bucket_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", required=True, help="releases bucket name")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX,
                        help=f"key prefix in the bucket (default {DEFAULT_PREFIX})")
    parser.add_argument("--endpoint-url", default=None,
                        help="S3 endpoint for MinIO/moto (or set AWS_ENDPOINT_URL_S3)")
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS chain's)")


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (also used by the tests that keep the docs honest)."""
    parser = argparse.ArgumentParser(prog="veracity-release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="PyInstaller onedir build of the connector")
    build.add_argument("--dist", type=Path, default=DEFAULT_DIST, help="output folder")
    build.add_argument("--work", type=Path, default=REPO_ROOT / "build" / "pyinstaller",
                       help="PyInstaller work folder")
    build.add_argument("--spec", type=Path, default=SPEC_PATH, help="PyInstaller spec to use")
    build.set_defaults(handler=command_build)

    package = commands.add_parser("package", help="Velopack installer and feed (vpk pack)")
    package.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR,
                         help="the Windows onedir build")
    package.add_argument("--output", type=Path, default=DEFAULT_RELEASES_DIR,
                         help="vpk output folder")
    package.add_argument("--version", default=None, help="default: client/pyproject.toml's version")
    package.add_argument("--sign-params", default=None,
                         help="passed to vpk --signParams (signtool arguments)")
    package.add_argument("--azure-trusted-sign-file", type=Path, default=None,
                         help="Azure Trusted Signing metadata.json (vpk --azureTrustedSignFile)")
    package.add_argument("--delta-from", default=None, metavar="FEED_URL",
                         help="live update feed URL; the previous release is fetched for deltas")
    package.add_argument("--cross-pack", action=argparse.BooleanOptionalAction,
                         default=sys.platform != "win32",
                         help="use `vpk [win] pack` (default when not on Windows)")
    package.set_defaults(handler=command_package)

    sign = commands.add_parser("sign", help="Authenticode-sign files in place "
                               "(VERACITY_SIGN_PFX_FILE + password from the environment)")
    sign.add_argument("files", nargs="+", type=Path)
    sign.set_defaults(handler=command_sign)

    verify = commands.add_parser("verify", help="verify Authenticode signatures")
    verify.add_argument("files", nargs="+", type=Path)
    verify.add_argument("--ca-file", type=Path, default=None,
                        help="trust this CA (PEM) too, e.g. a test certificate")
    verify.set_defaults(handler=command_verify)

    hashing = commands.add_parser("hash", help="SHA-256 of files (sha256sum format)")
    hashing.add_argument("files", nargs="+", type=Path)
    hashing.set_defaults(handler=command_hash)

    publish = commands.add_parser("publish", help="upload, verify, write the metadata JSON")
    _add_bucket_options(publish)
    publish.add_argument("--releases-dir", type=Path, default=DEFAULT_RELEASES_DIR,
                         help="vpk output folder")
    publish.add_argument("--version", default=None, help="default: client/pyproject.toml's version")
    notes = publish.add_mutually_exclusive_group()
    notes.add_argument("--notes", default=None, help="short release notes shown to users")
    notes.add_argument("--notes-file", type=Path, default=None, help="read the notes from a file")
    publish.add_argument("--release-notes-url", default=None, help="link to full release notes")
    publish.add_argument("--force", action="store_true",
                         help="overwrite a version that is already published")
    publish.add_argument("--dry-run", action="store_true",
                         help="print every action, change nothing")
    publish.add_argument("--allow-unsigned", action="store_true",
                         help="publish an installer without an Authenticode signature "
                              "(test releases only; printed loudly)")
    publish.set_defaults(handler=command_publish)

    env = commands.add_parser("env", help="print IBKR_CONNECTOR_WINDOWS_* lines")
    _add_bucket_options(env)
    env.add_argument("--presigned", action="store_true",
                     help="put a presigned (expiring) URL in IBKR_CONNECTOR_WINDOWS_URL")
    env.add_argument("--expires-in", type=int, default=3600,
                     help="presigned URL lifetime in seconds (default 3600, max 604800)")
    env.set_defaults(handler=command_env)
    return parser


def command_options() -> dict[str, set[str]]:
    """Each subcommand's option strings (the docs tests check them against the docs)."""
    parser = build_parser()
    subparsers = next(action for action in parser._actions
                      if isinstance(action, argparse._SubParsersAction))
    return {name: {option for action in sub._actions for option in action.option_strings}
            for name, sub in subparsers.choices.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one release step; return the exit status."""
    arguments = build_parser().parse_args(argv)
    try:
        arguments.handler(arguments)
    except ReleaseError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    return 0
