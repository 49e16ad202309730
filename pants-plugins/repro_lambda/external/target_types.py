"""The `lambda_source` target, and the `external_sources` field of the artifact targets."""

from __future__ import annotations

from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    BoolField,
    DictStringToStringField,
    SpecialCasedDependencies,
    StringField,
    Target,
)
from pants.util.docutil import bin_name
from pants.util.strutil import help_text

from repro_lambda.core.sources.safe_extract import MAX_ENTRIES, MAX_EXTRACTED_BYTES
from repro_lambda.core.sources.safe_fetch import MAX_DOWNLOAD_BYTES
from repro_lambda.core.sources.spec import TOKEN_ENV_VAR, Extract, SourceType


class LambdaSourceTypeField(StringField):
    alias = "type"
    required = True
    valid_choices = SourceType
    value: str
    help = help_text(
        """
        Where the download comes from: `https` (the `url`), or `github_release` (the asset
        named `asset` of release `tag` of the GitHub repository `repo`, through GitHub's API;
        private repositories need a token, see `lambda_source`).
        """
    )


class LambdaSourceUrlField(StringField):
    alias = "url"
    help = "The download of an `https` source; `{version}` is replaced by the `version`."


class LambdaSourceRepoField(StringField):
    alias = "repo"
    help = "The `owner/name` GitHub repository of a `github_release` source."


class LambdaSourceTagField(StringField):
    alias = "tag"
    help = "The release tag of a `github_release` source, e.g. `v{version}`."


class LambdaSourceAssetField(StringField):
    alias = "asset"
    help = "The asset of the release to download, e.g. `tool-{version}-linux-arm64.tar.gz`."


class LambdaSourceVersionField(StringField):
    alias = "version"
    help = help_text(
        f"""
        The version, substituted for `{{version}}` in `url`, `tag`, `asset` and `member`. Bump
        it and run `{bin_name()} lambda-lock` to re-pin the download. Set this or
        `version_from`.
        """
    )


class LambdaSourceVersionFromField(DictStringToStringField):
    alias = "version_from"
    help = help_text(
        f"""
        Read the version from another source instead of setting it: `source` (the address of
        that `lambda_source`, which must set `version` itself), `file` (a path in its extracted
        tree, relative to its member-stripped root) and `key` (the first word of an asdf-style
        `key version` line of that file, as in `.tool-versions`). E.g.
        `{{"source": ":vendor", "file": ".tool-versions", "key": "terraform"}}`.

        `{bin_name()} lambda-lock` resolves it, so bumping the other source's `version` cascades
        to this one; the lock records the result, and the artifact depends only on the pinned
        download.
        """
    )


class LambdaSourceExtractField(StringField):
    alias = "extract"
    required = True
    valid_choices = Extract
    value: str
    help = help_text(
        f"""
        How to open the download: `zip`, `tar.gz`, or `none` (the download is the file).

        Archives are opened only after their sha256 is verified against the lock, and are
        refused whole if they hold an absolute path, a `..` component, a symlink, a hard link,
        a device or a FIFO, more than {MAX_ENTRIES:,} entries, or more than
        {MAX_EXTRACTED_BYTES:,} bytes extracted. Downloads are bounded at
        {MAX_DOWNLOAD_BYTES:,} bytes.
        """
    )


class LambdaSourceMemberField(StringField):
    alias = "member"
    help = help_text(
        """
        The one file, or the directory whose subtree, to take from the archive (`{version}` is
        replaced), e.g. `tool-{version}` to map a versioned top directory to `dest`. Omit it to
        take the whole archive.
        """
    )


class LambdaSourceDestField(StringField):
    alias = "dest"
    required = True
    value: str
    help = help_text(
        """
        Where the source lands in the artifact: the file's path for a file member (or
        `extract="none"`), else the directory the member's (or archive's) contents land in,
        e.g. `bin/terraform` or `vendor`. It may not overlap another source's `dest` or the
        artifact's own files.
        """
    )


class LambdaSourceExecutableField(BoolField):
    alias = "executable"
    default = False
    help = help_text(
        """
        Whether every file of the source is executable (0755 in the zip). Otherwise a file is
        0755 if the archive gives it an x bit, else 0644.
        """
    )


class LambdaSourceTarget(Target):
    alias = "lambda_source"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        LambdaSourceTypeField,
        LambdaSourceUrlField,
        LambdaSourceRepoField,
        LambdaSourceTagField,
        LambdaSourceAssetField,
        LambdaSourceVersionField,
        LambdaSourceVersionFromField,
        LambdaSourceExtractField,
        LambdaSourceMemberField,
        LambdaSourceDestField,
        LambdaSourceExecutableField,
    )
    help = help_text(
        f"""
        A pinned external download bundled into artifacts that list it in `external_sources`:
        a release tarball, a vendored CLI binary.

        Its sha256 is never typed by hand: `{bin_name()} lambda-lock` downloads it and records
        the digest in the sources lock (`[lambda-sources].lockfile`); `{bin_name()} package`
        refuses a source whose pin is missing or stale. Downloads are HTTPS only, every
        redirect included, and never connect to private, loopback, link-local or cloud
        metadata addresses; `Authorization` is dropped on a redirect to another host. A
        download is fetched once and cached by its pin.

        For a private `github_release`, set the token in `{TOKEN_ENV_VAR}`; it is used by
        Pants itself, never passed to a process, logged or part of a cache key.

        Example:

            lambda_source(
                name="terraform",
                type="https",
                url="https://releases.hashicorp.com/terraform/{{version}}/terraform_{{version}}_linux_arm64.zip",
                version="1.9.0",
                extract="zip",
                member="terraform",
                dest="bin/terraform",
                executable=True,
            )
        """
    )


class LambdaExternalSourcesField(SpecialCasedDependencies):
    alias = "external_sources"
    help = help_text(
        """
        Addresses of `lambda_source` targets to bundle, each at its `dest`.

        Their names (the targets' names) must be unique within the artifact, and their `dest`s
        may not overlap each other or the artifact's own files. A Linux binary among them must
        be built for the artifact's architecture.
        """
    )
