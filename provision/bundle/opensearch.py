"""OpenSearch (Elasticsearch's API) from Maven Central, for Debian's Java 17.

OpenSearch publishes no distribution through Maven, but its server jar and the
transport-netty4 plugin are there. fetch_opensearch lays out a home directory
the server accepts (lib/, modules/transport-netty4/, config/, bin/, plugins/)
with the host's own Maven (its settings name any mirror; it checks checksums).
The module's netty jars live only under modules/transport-netty4/: a jar in
both places fails OpenSearch's JarHell check at start.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from provision.bundle.maven import run_maven
from provision.errors import BundleError

NETTY_MODULE = "modules/transport-netty4"
CLIENT = "transport-netty4-client"  # the module's own jar (org.opensearch.plugin)

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>provision.local</groupId><artifactId>{name}</artifactId><version>0</version>
  <packaging>pom</packaging>
  <dependencies>{deps}
  </dependencies>
</project>
"""

DESCRIPTOR = """description=Netty 4 HTTP and transport layer
version={version}
name=transport-netty4
classname=org.opensearch.transport.Netty4Plugin
java.version=11
opensearch.version={version}
"""

POLICY = """grant {
  permission java.lang.RuntimePermission "accessClassInPackage.sun.misc";
  permission java.lang.RuntimePermission "setContextClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.lang.reflect.ReflectPermission "suppressAccessChecks";
  permission java.net.SocketPermission "*", "accept,connect";
  permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
  permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
"""

# the cluster's own settings come from -E flags (the entry script)
OPENSEARCH_YML = "# settings come from -E flags: see provision-opensearch\n"

LOG4J2 = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
"""


def _dep(group: str, artifact: str, version: str) -> str:
    return (
        f"\n    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version></dependency>"
    )


def _copy_deps(work: Path, deps: str, out_dir: Path, log: Path, what: str, *extra: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(POM.format(name=work.name, deps=deps))
    args = ["dependency:copy-dependencies", f"-DoutputDirectory={out_dir}"]
    run_maven([*args, "-DincludeScope=runtime", *extra], work, log, what)


def _fetch_jars(version: str, lib: Path, module: Path, work: Path, log: Path) -> None:
    """The server's runtime jars into lib/; the netty module's into module/."""
    server = _dep("org.opensearch", "opensearch", version) + _dep(
        "org.opensearch", "opensearch-plugin-classloader", version
    )
    _copy_deps(work / "server", server, lib, log, f"org.opensearch:opensearch:{version}")
    if not list(lib.glob("log4j-core-*.jar")):  # older servers leave log4j-core out
        apis = sorted(lib.glob("log4j-api-*.jar"))
        if not apis:
            raise BundleError(f"no log4j-api jar among OpenSearch {version}'s dependencies")
        core = "org.apache.logging.log4j:log4j-core:" + apis[0].stem.removeprefix("log4j-api-")
        run_maven(
            ["dependency:copy", f"-Dartifact={core}", f"-DoutputDirectory={lib}"], work, log, core
        )
    _copy_deps(
        work / "netty",
        _dep("org.opensearch.plugin", CLIENT, version),
        module,
        log,
        f"org.opensearch.plugin:{CLIENT}:{version}",
        "-DincludeGroupIds=io.netty,org.opensearch.plugin",
    )
    in_lib = {j.name for j in lib.glob("*.jar")}
    for jar in module.glob("*.jar"):  # JarHell: a class on both paths stops the server
        if jar.name in in_lib:
            jar.unlink()


def fetch_opensearch(version: str, dest: Path, log: Path) -> None:
    """Lay out OpenSearch <version>'s home under dest (replacing what is there)."""
    if dest.exists():
        shutil.rmtree(dest)
    lib, module, work = dest / "lib", dest / NETTY_MODULE, dest.parent / f"{dest.name}.mvn"
    for d in (lib, module, dest / "config", dest / "bin", dest / "plugins"):
        d.mkdir(parents=True)
    log.write_text("")
    try:
        _fetch_jars(version, lib, module, work, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not list(module.glob(f"{CLIENT}-*.jar")) or not list(lib.glob(f"opensearch-{version}.jar")):
        raise BundleError(f"Maven left OpenSearch {version}'s jars incomplete\n  full log: {log}")
    (module / "plugin-descriptor.properties").write_text(DESCRIPTOR.format(version=version))
    (module / "plugin-security.policy").write_text(POLICY)
    (dest / "config" / "opensearch.yml").write_text(OPENSEARCH_YML)
    (dest / "config" / "log4j2.properties").write_text(LOG4J2)
