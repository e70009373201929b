"""Add-on images for labs no registry serves: made from real software the lab
reaches. Each add-on's folder says what its image is (an `ImageRecipe` in its
`images`, the entry script a file beside it); this module builds them. MariaDB,
RabbitMQ and rsyslog (the log shipper) are Debian packages; Zipkin's executable
jar and OpenSearch (it speaks Elasticsearch's API) are on Maven Central (fetched by
the host's own Maven, with its own mirror settings) and run on Debian's Java
runtime.

Each image is a cached Debian base layer (baseimage.py) plus a small layer with
the add-on's entry script. They go into the bundle as kind "addon-image"; the
addons phase loads them on the workers only. A lab uses them through
addons.images (see inventories/lab/cluster.yml). The base layers and the Maven
fetches are made in the background from the build's start (background.py): no
Go build feeds them. The recipes come in from the caller (the CLI asks the
add-ons' registry): the bundle sits below the add-ons and never imports them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path

from provision.bundle.background import Job, Step
from provision.bundle.baseimage import REMOVE, BaseLayers, BaseRecipe, kept_dir
from provision.bundle.images import (
    DEFAULT_PATH,
    File,
    ImageConfig,
    Layer,
    add_files,
    write_image,
    write_layer,
)
from provision.bundle.manifest import Artifact, sha256_of
from provision.bundle.maven import run_maven
from provision.bundle.opensearch import fetch_opensearch
from provision.errors import BundleError

KIND = "addon-image"
DPKG_STATUS = "var/lib/dpkg/status"
REPOSITORY = "provision.local/addons"
JAVA_BASE = BaseRecipe("java", ("openjdk-17-jre-headless", "curl"), keep=(DPKG_STATUS,))
# OpenSearch serves the elasticsearch component: the newest 2.x (Java 17) release.
OPENSEARCH_VERSION = "2.19.6"
OPENSEARCH_HOME = "/usr/share/opensearch"
MAVEN_BUILDS = ("zipkin", "opensearch")


@dataclass(frozen=True)
class ImageRecipe:
    """One add-on image, as the add-on's folder declares it. A Debian image is made
    of `debian` (a base recipe of Debian packages) and tagged with the series of the
    package `pins` (`tag_series`, checked at build); a Java image is one of the
    Maven builds this module knows (`maven`: zipkin, at versions.zipkin; opensearch,
    at OPENSEARCH_VERSION). Either way the entry script `entry`, a file of the
    add-on's folder (`package`), runs as /usr/local/bin/<entry>."""

    component: str  # the addons.images key it serves
    name: str  # image name under REPOSITORY
    package: str  # the add-on's folder, as a package
    entry: str
    debian: BaseRecipe | None = None
    pins: str = ""
    tag_series: str = ""
    maven: str = ""

    def ref(self, zipkin_version: str) -> str:
        tag = {"zipkin": zipkin_version, "opensearch": OPENSEARCH_VERSION}.get(
            self.maven, self.tag_series
        )
        return f"{REPOSITORY}/{self.name}:{tag}"

    def script(self) -> bytes:
        return resources.files(self.package).joinpath(self.entry).read_bytes()


def debian_image(
    component: str,
    name: str,
    package: str,
    entry: str,
    packages: tuple[str, ...],
    *,
    tag_series: str,
    remove: tuple[str, ...] = (),
) -> ImageRecipe:
    """A Debian image of `packages` whose tag is the series of the first of them;
    `remove`: paths the base layer leaves out besides the usual ones."""
    return ImageRecipe(
        component,
        name,
        package,
        entry,
        BaseRecipe(name, packages, remove=(*REMOVE, *remove), keep=(DPKG_STATUS,)),
        packages[0],
        tag_series,
    )


def wanted_images(images: dict[str, str]) -> dict[str, str]:
    """The addons.images entries provision builds (those under its repository)."""
    return {c: ref for c, ref in images.items() if ref.startswith(REPOSITORY + "/")}


def package_version(status: str, package: str) -> str:
    """The installed version of a package, from a dpkg status file's text."""
    for block in status.split("\n\n"):
        if re.search(rf"^Package: {re.escape(package)}$", block, re.M):
            found = re.search(r"^Version: (\S+)$", block, re.M)
            if found:
                return found.group(1)
    raise BundleError(f"package {package} is not in the image's dpkg status")


def upstream_version(debian_version: str) -> str:
    """1:10.11.14-0+deb12u2 -> 10.11.14."""
    return re.sub(r"-[^-]*$", "", debian_version.split(":", 1)[-1])


def fetch_zipkin_jar(version: str, dest_dir: Path, log: Path) -> Path:
    """io.zipkin:zipkin-server:<version>:exec through the host's Maven."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    artifact = f"io.zipkin:zipkin-server:{version}:jar:exec"
    args = ["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={dest_dir}"]
    run_maven([*args, "-Dmdep.overWriteReleases=true"], dest_dir, log, artifact)
    jar = dest_dir / f"zipkin-server-{version}-exec.jar"
    if not jar.is_file():
        raise BundleError(f"Maven left no {jar.name} in {dest_dir}\n  full log: {log}")
    return jar


class AddonImages:
    """Builds the add-on images into <bundle>/images/addons/: start() at the build's
    start, run() when the images are put together."""

    def __init__(
        self,
        cache_dir: Path,
        log,
        step: Step,
        zipkin_version: str,
        wanted: dict[str, str],
        bases: BaseLayers,
        recipes: Sequence[ImageRecipe],
    ):
        self.cache_dir = cache_dir
        self.log = log
        self.step = step
        self.zipkin_version = zipkin_version
        self.wanted = wanted  # addons.images entries that name our repository
        self.bases = bases
        self.background = bases.background
        chosen = [r for r in recipes if r.component in wanted]
        orphans = sorted(wanted.keys() - {r.component for r in chosen})
        if orphans:
            raise BundleError(
                f"addons.images.{orphans[0]} is {wanted[orphans[0]]}, but no add-on makes an "
                f"image of {REPOSITORY} for {orphans[0]}\n  fix: use the upstream image (leave "
                f"addons.images.{orphans[0]} out) or one of "
                + ", ".join(sorted(r.component for r in recipes))
            )
        self.debian = [r for r in chosen if r.debian is not None]
        self.java = {r.maven: r for r in chosen if r.maven in MAVEN_BUILDS}
        unknown = [r.component for r in chosen if r.debian is None and r not in self.java.values()]
        if unknown:
            raise BundleError(f"no way to build the image of {', '.join(unknown)}")
        self._jar: Job[Path] | None = None
        self._opensearch: Job[None] | None = None

    def start(self, work: Path) -> None:
        """Check the wanted references, then start what the images need in the
        background: their Debian base layers, then the Maven fetches."""
        for image in [*self.debian, *self.java.values()]:
            self._check_ref(image.component, image.ref(self.zipkin_version))
        java = [JAVA_BASE] if self.java else []
        self.bases.start(*(i.debian for i in self.debian if i.debian), *java)
        if "zipkin" in self.java:
            self._jar = self.background.submit(
                f"zipkin-server {self.zipkin_version} exec jar (Maven)",
                lambda: fetch_zipkin_jar(
                    self.zipkin_version, work / "zipkin", self.log.dir / "maven.log"
                ),
            )
        if "opensearch" in self.java:
            self._opensearch = self.background.submit(
                f"OpenSearch {OPENSEARCH_VERSION} jars (Maven)",
                lambda: fetch_opensearch(
                    OPENSEARCH_VERSION, work / "opensearch", self.log.dir / "maven-opensearch.log"
                ),
            )

    def run(self, out: Path, work: Path) -> list[Artifact]:
        """The images, each once what it needs from the background is there (a wait
        for it is a step of its own, before the image's)."""
        artifacts = []
        for image in self.debian:
            assert image.debian is not None
            self.bases.layer(image.debian)
            artifacts.append(
                self.step(
                    f"add-on image {image.ref(self.zipkin_version)}",
                    partial(self._debian, image, out, work),
                )
            )
        if self._jar is not None:
            jar = self.background.result(self._jar)
            self.bases.layer(JAVA_BASE)
            artifacts.append(self.step("add-on image zipkin", lambda: self._zipkin(out, work, jar)))
        if self._opensearch is not None:
            self.background.result(self._opensearch)
            self.bases.layer(JAVA_BASE)
            artifacts.append(
                self.step("add-on image opensearch", lambda: self._opensearch_image(out, work))
            )
        return artifacts

    def _check_ref(self, component: str, ref: str) -> None:
        if self.wanted[component] != ref:
            raise BundleError(
                f"addons.images.{component} is {self.wanted[component]}, but provision builds "
                f"{ref}\n  fix: set addons.images.{component}: {ref}"
            )

    def _base(self, recipe: BaseRecipe) -> tuple[Layer, str]:
        """The recipe's layer and the dpkg status of its root."""
        layer = self.bases.layer(recipe)
        return layer, (kept_dir(self.cache_dir, recipe) / DPKG_STATUS).read_text()

    def _debian(self, image: ImageRecipe, out: Path, work: Path) -> Artifact:
        assert image.debian is not None
        base, status = self._base(image.debian)
        version = upstream_version(package_version(status, image.pins))
        if not version.startswith(image.tag_series + "."):
            folder = image.package.replace(".", "/")
            raise BundleError(
                f"{image.pins} is {version} in the mirror, the image tag says "
                f"{image.tag_series}\n"
                f"  fix: update the image's tag_series in {folder}/__init__.py"
            )
        return self._image(out, work, image, version, base, [])

    def _java(self, what: str):
        """The Java base layer; says what runs on which OpenJDK."""
        base, status = self._base(JAVA_BASE)
        java = upstream_version(package_version(status, "openjdk-17-jre-headless"))
        self.log.say(f"  {what} on OpenJDK {java}")
        return base

    def _zipkin(self, out: Path, work: Path, jar: Path) -> Artifact:
        base = self._java(f"zipkin-server {self.zipkin_version} exec jar")
        files = [File("/opt/zipkin/zipkin-server-exec.jar", jar, mode=0o644)]
        image = self.java["zipkin"]
        return self._image(out, work, image, self.zipkin_version, base, files, "/opt/zipkin")

    def _opensearch_image(self, out: Path, work: Path) -> Artifact:
        home = work / "opensearch"
        base = self._java(f"OpenSearch {OPENSEARCH_VERSION} from Maven Central")
        files = [
            File(f"{OPENSEARCH_HOME}/{p.relative_to(home)}", p, mode=0o644)
            for p in sorted(home.rglob("*"))
            if p.is_file()
        ]
        dirs = {
            f"{OPENSEARCH_HOME}/{p.relative_to(home)}": 0o755 for p in home.rglob("*") if p.is_dir()
        }
        image = self.java["opensearch"]
        return self._image(out, work, image, OPENSEARCH_VERSION, base, files, OPENSEARCH_HOME, dirs)

    def _image(
        self,
        out: Path,
        work: Path,
        image: ImageRecipe,
        version: str,
        base,
        files: list[File],
        workdir: str | None = None,
        dirs: dict[str, int] | None = None,
    ) -> Artifact:
        """images/addons/<name>-<tag>.tar: the base layer and one layer of our files,
        the add-on's entry script among them, run as the entrypoint."""
        ref = image.ref(self.zipkin_version)
        name, tag = ref.removeprefix(REPOSITORY + "/").rsplit(":", 1)
        entry = image.entry
        files = [*files, File(f"/usr/local/bin/{entry}", image.script())]
        layer = write_layer(work / f"{name}.layer", lambda tar: add_files(tar, files, dirs))
        (out / "images" / "addons").mkdir(parents=True, exist_ok=True)
        path = f"images/addons/{name}-{tag}.tar"
        write_image(
            out / path,
            ref,
            [base, layer],
            ImageConfig(
                entrypoint=[f"/usr/local/bin/{entry}"], env=[DEFAULT_PATH], workdir=workdir
            ),
        )
        return Artifact(ref, KIND, path, version, sha256_of(out / path))
