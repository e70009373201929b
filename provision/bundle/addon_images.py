"""Add-on images for labs no registry serves: made from real software the lab
reaches. MariaDB, RabbitMQ and rsyslog (the log shipper) are Debian packages;
Zipkin's executable jar and OpenSearch (it speaks Elasticsearch's API) are on
Maven Central (fetched by the host's own Maven, with its own mirror settings)
and run on Debian's Java runtime.

Each image is a cached Debian base layer (baseimage.py) plus a small layer with
our entry script (addon_scripts/). They go into the bundle as kind
"addon-image"; the addons phase loads them on the workers only. A lab uses them
through addons.images (see inventories/lab/cluster.yml).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from provision.bundle.baseimage import REMOVE, BaseRecipe, base_layer, kept_dir
from provision.bundle.images import (
    DEFAULT_PATH,
    File,
    ImageConfig,
    add_files,
    write_image,
    write_layer,
)
from provision.bundle.manifest import Artifact, BundleError, sha256_of

KIND = "addon-image"
DPKG_STATUS = "var/lib/dpkg/status"
REPOSITORY = "provision.local/addons"


@dataclass(frozen=True)
class AddonImage:
    component: str  # the addons.images key it serves
    name: str  # image name under REPOSITORY
    recipe: BaseRecipe
    package: str  # the Debian package whose version the tag pins
    tag_series: str  # Debian bookworm's series of it (the tag); checked at build
    script: str  # entry script in addon_scripts/

    @property
    def ref(self) -> str:
        return f"{REPOSITORY}/{self.name}:{self.tag_series}"


DEBIAN_IMAGES = (
    AddonImage(
        "mysql",
        "mariadb",
        # the data directory Debian's postinst made: the entry script makes its own
        BaseRecipe(
            "mariadb", ("mariadb-server",), remove=(*REMOVE, "var/lib/mysql"), keep=(DPKG_STATUS,)
        ),
        "mariadb-server",
        "10.11",
        "provision-mysqld",
    ),
    AddonImage(
        "rabbitmq",
        "rabbitmq",
        BaseRecipe("rabbitmq", ("rabbitmq-server", "curl"), keep=(DPKG_STATUS,)),
        "rabbitmq-server",
        "3.10",
        "provision-rabbitmq",
    ),
    AddonImage(
        "rsyslog",
        "rsyslog",
        BaseRecipe("rsyslog", ("rsyslog", "rsyslog-elasticsearch"), keep=(DPKG_STATUS,)),
        "rsyslog",
        "8.2302",
        "provision-rsyslog",
    ),
)
JAVA_BASE = BaseRecipe("java", ("openjdk-17-jre-headless", "curl"), keep=(DPKG_STATUS,))
# OpenSearch serves the elasticsearch component: the newest 2.x (Java 17) release.
OPENSEARCH_VERSION = "2.19.6"
OPENSEARCH_HOME = "/usr/share/opensearch"


def zipkin_ref(version: str) -> str:
    return f"{REPOSITORY}/zipkin:{version}"


def opensearch_ref() -> str:
    return f"{REPOSITORY}/opensearch:{OPENSEARCH_VERSION}"


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


def script(name: str) -> bytes:
    return resources.files("provision.bundle").joinpath("addon_scripts", name).read_bytes()


def fetch_zipkin_jar(version: str, dest_dir: Path, log: Path) -> Path:
    """io.zipkin:zipkin-server:<version>:exec through the host's Maven (its settings
    name any mirror); Maven checks the repository's checksums."""
    if shutil.which("mvn") is None:
        raise BundleError(
            "Maven (mvn) is needed to fetch Zipkin's jar from Maven Central\n"
            "  fix: apt-get install maven"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        "mvn",
        "-B",
        "-q",
        "--strict-checksums",
        "dependency:copy",
        f"-Dartifact=io.zipkin:zipkin-server:{version}:jar:exec",
        f"-DoutputDirectory={dest_dir}",
        "-Dmdep.overWriteReleases=true",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    log.write_text(out.stdout + out.stderr)
    jar = dest_dir / f"zipkin-server-{version}-exec.jar"
    if out.returncode != 0 or not jar.is_file():
        tail = "\n    ".join((out.stdout + out.stderr).splitlines()[-8:])
        raise BundleError(
            f"fetching io.zipkin:zipkin-server:{version}:exec failed (exit {out.returncode}):\n"
            f"    {tail}\n  full log: {log}\n"
            "  fix: check that Maven reaches its repository (mvn -v, ~/.m2/settings.xml)"
        )
    return jar


class AddonImages:
    """Builds the add-on images into <bundle>/images/addons/."""

    def __init__(self, cache_dir: Path, log, step, zipkin_version: str, wanted: dict[str, str]):
        self.cache_dir = cache_dir
        self.log = log
        self.step = step
        self.zipkin_version = zipkin_version
        self.wanted = wanted  # addons.images entries that name our repository

    def run(self, out: Path, work: Path) -> list[Artifact]:
        artifacts = []
        for image in DEBIAN_IMAGES:
            if image.component in self.wanted:
                self._check_ref(image.component, image.ref)
                artifacts.append(
                    self.step(
                        f"add-on image {image.ref}", lambda i=image: self._debian(i, out, work)
                    )
                )
        if "zipkin" in self.wanted:
            self._check_ref("zipkin", zipkin_ref(self.zipkin_version))
            artifacts.append(self.step("add-on image zipkin", lambda: self._zipkin(out, work)))
        if "elasticsearch" in self.wanted:
            self._check_ref("elasticsearch", opensearch_ref())
            artifacts.append(
                self.step("add-on image opensearch", lambda: self._opensearch(out, work))
            )
        return artifacts

    def _check_ref(self, component: str, ref: str) -> None:
        if self.wanted[component] != ref:
            raise BundleError(
                f"addons.images.{component} is {self.wanted[component]}, but provision builds "
                f"{ref}\n  fix: set addons.images.{component}: {ref}"
            )

    def _base(self, recipe: BaseRecipe):
        layer, fresh = base_layer(
            self.cache_dir, self.log.dir / f"debootstrap-{recipe.name}.log", self.log.say, recipe
        )
        self.log.say(
            f"  {recipe.name} base layer {layer.digest[:19]} ({'built' if fresh else 'cached'})"
        )
        status = (kept_dir(self.cache_dir, recipe) / DPKG_STATUS).read_text()
        return layer, status

    def _debian(self, image: AddonImage, out: Path, work: Path) -> Artifact:
        base, status = self._base(image.recipe)
        version = upstream_version(package_version(status, image.package))
        if not version.startswith(image.tag_series + "."):
            raise BundleError(
                f"{image.package} is {version} in the mirror, the image tag says "
                f"{image.tag_series}\n"
                "  fix: update DEBIAN_IMAGES in provision/bundle/addon_images.py"
            )
        (out / "images" / "addons").mkdir(parents=True, exist_ok=True)
        files = [File(f"/usr/local/bin/{image.script}", script(image.script))]
        layer = write_layer(work / f"{image.name}.layer", lambda tar: add_files(tar, files))
        path = f"images/addons/{image.name}-{image.tag_series}.tar"
        write_image(
            out / path,
            image.ref,
            [base, layer],
            ImageConfig(entrypoint=[f"/usr/local/bin/{image.script}"], env=[DEFAULT_PATH]),
        )
        return Artifact(image.ref, KIND, path, version, sha256_of(out / path))

    def _zipkin(self, out: Path, work: Path) -> Artifact:
        base, status = self._base(JAVA_BASE)
        java = upstream_version(package_version(status, "openjdk-17-jre-headless"))
        jar = fetch_zipkin_jar(self.zipkin_version, work / "zipkin", self.log.dir / "maven.log")
        self.log.say(f"  zipkin-server {self.zipkin_version} exec jar on OpenJDK {java}")
        files = [
            File("/opt/zipkin/zipkin-server-exec.jar", jar, mode=0o644),
            File("/usr/local/bin/provision-zipkin", script("provision-zipkin")),
        ]
        layer = write_layer(work / "zipkin.layer", lambda tar: add_files(tar, files))
        (out / "images" / "addons").mkdir(parents=True, exist_ok=True)
        ref = zipkin_ref(self.zipkin_version)
        path = f"images/addons/zipkin-{self.zipkin_version}.tar"
        write_image(
            out / path,
            ref,
            [base, layer],
            ImageConfig(
                entrypoint=["/usr/local/bin/provision-zipkin"],
                env=[DEFAULT_PATH],
                workdir="/opt/zipkin",
            ),
        )
        return Artifact(ref, KIND, path, self.zipkin_version, sha256_of(out / path))

    def _opensearch(self, out: Path, work: Path) -> Artifact:
        from provision.bundle.opensearch import fetch_opensearch

        base, status = self._base(JAVA_BASE)
        java = upstream_version(package_version(status, "openjdk-17-jre-headless"))
        home = work / "opensearch"
        if home.exists():
            shutil.rmtree(home)
        fetch_opensearch(OPENSEARCH_VERSION, home, self.log.dir / "maven-opensearch.log")
        self.log.say(f"  OpenSearch {OPENSEARCH_VERSION} from Maven Central on OpenJDK {java}")
        files = [
            File(f"{OPENSEARCH_HOME}/{p.relative_to(home)}", p, mode=0o644)
            for p in sorted(home.rglob("*"))
            if p.is_file()
        ]
        files.append(File("/usr/local/bin/provision-opensearch", script("provision-opensearch")))
        dirs = {
            f"{OPENSEARCH_HOME}/{p.relative_to(home)}": 0o755 for p in home.rglob("*") if p.is_dir()
        }
        layer = write_layer(work / "opensearch.layer", lambda tar: add_files(tar, files, dirs))
        (out / "images" / "addons").mkdir(parents=True, exist_ok=True)
        ref = opensearch_ref()
        path = f"images/addons/opensearch-{OPENSEARCH_VERSION}.tar"
        write_image(
            out / path,
            ref,
            [base, layer],
            ImageConfig(
                entrypoint=["/usr/local/bin/provision-opensearch"],
                env=[DEFAULT_PATH],
                workdir=OPENSEARCH_HOME,
            ),
        )
        return Artifact(ref, KIND, path, OPENSEARCH_VERSION, sha256_of(out / path))
