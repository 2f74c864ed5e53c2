"""Cross-file checks of the shipping files that no schema can make.

    python .ci/check_consistency.py   (from the repository root; needs PyYAML)

Each finding is printed; the exit status is the number of findings (capped at 1).
"""

from __future__ import annotations

import re
import shlex
import sys

import yaml

findings: list[str] = []


def check(cond: bool, what: str) -> None:
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        findings.append(what)


def load(path: str):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def dockerfile_runtime() -> dict:
    """EXPOSE, HEALTHCHECK, COPY destination, ENV and USER of the last stage."""
    text = open("Dockerfile.server", encoding="utf-8").read()
    # Join continuation lines, drop comments.
    text = re.sub(r"\\\n\s*", " ", text)
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    stages = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    # Base images, not earlier stages reused by name (`FROM chef AS builder`).
    names = {lines[i].split()[3] for i in stages if len(lines[i].split()) == 4}
    out = {"from": [lines[i].split()[1] for i in stages if lines[i].split()[1] not in names],
           "env": {}}
    for line in lines[stages[-1]:]:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "EXPOSE":
            out["expose"] = rest.split()
        elif word == "HEALTHCHECK":
            out["healthcheck"] = yaml.safe_load(rest[rest.index("CMD") + 3:].strip())
        elif word == "COPY":
            out["binary"] = rest.split()[-1]
        elif word == "ENV":
            for pair in shlex.split(rest):
                k, _, v = pair.partition("=")
                out["env"][k] = v
        elif word == "USER":
            out["user"] = rest.strip()
        elif word == "ENTRYPOINT":
            out["entrypoint"] = yaml.safe_load(rest)
        elif word == "STOPSIGNAL":
            out["stopsignal"] = rest.strip()
    return out


HAPROXY_CFG = "deploy/haproxy/haproxy.cfg"


def check_scale(compose: dict, name: str) -> None:
    """Profile `scale`: replicas of the server without a host port, behind HAProxy."""
    services = compose["services"]
    server, replica, lb = services["server"], services.get("replica", {}), services.get("lb", {})
    check(replica.get("profiles") == ["scale"] and lb.get("profiles") == ["scale"],
          f"{name}: replica and lb only in profile scale")
    same = lambda svc: {k: v for k, v in svc.items() if k not in ("ports", "profiles")}
    check(same(replica) == same(server) and not replica.get("ports"),
          f"{name}: replica is the server service without host ports")
    image = str(lb.get("image", ""))
    check(image.startswith("haproxy:") and image != "haproxy:latest",
          f"{name}: lb runs the official HAProxy image, pinned: {image}")
    check(f"./{HAPROXY_CFG}:/usr/local/etc/haproxy/haproxy.cfg:ro" in lb.get("volumes", []),
          f"{name}: lb mounts {HAPROXY_CFG} read-only")
    bind_port = str(lb.get("environment", {}).get("STROP_LB_BIND", "")).rpartition(":")[2]
    check(lb.get("ports") == [f"80:{bind_port}"] and int(bind_port or 0) > 1024,
          f"{name}: lb publishes host port 80 to its unprivileged STROP_LB_BIND port {bind_port}")
    check("replica" in (lb.get("depends_on") or {}), f"{name}: lb depends on replica")
    cfg = open(HAPROXY_CFG, encoding="utf-8").read()
    port = str(server.get("environment", {}).get("STROP_ADDR", "")).rpartition(":")[2]
    check(re.search(rf"^\s*server-template \S+ \d+ replica:{port} .*resolvers docker", cfg, re.M)
          is not None, f"{HAPROXY_CFG}: discovers the replica service on port {port} by DNS")
    check(re.search(r"^\s*http-check send meth GET uri /readyz", cfg, re.M) is not None,
          f"{HAPROXY_CFG}: health checks GET /readyz")


def check_kubernetes(df: dict, server: dict) -> None:
    """The manifests agree with the image and with each other."""
    import glob
    import os

    kdir = "deploy/kubernetes"
    kustomization = load(f"{kdir}/kustomization.yaml")
    files = sorted(os.path.basename(f) for f in glob.glob(f"{kdir}/*.yaml"))
    listed = sorted(kustomization.get("resources", []))
    check(listed == [f for f in files if f not in ("kustomization.yaml", "secret.example.yaml")],
          f"kustomization lists every manifest but the example Secret: {listed}")
    docs = {load(f"{kdir}/{f}")["kind"]: load(f"{kdir}/{f}") for f in listed}
    deploy = docs.get("Deployment", {})
    pod = deploy.get("spec", {}).get("template", {}).get("spec", {})
    (container,) = pod.get("containers", [{}])
    uid = df.get("user", "").split(":")[0]
    check(str(pod.get("securityContext", {}).get("runAsUser")) == uid,
          f"pods run as the image's user {uid}")
    check(container.get("securityContext", {}).get("readOnlyRootFilesystem") is True,
          "read-only root filesystem")
    port = int(df.get("expose", ["0"])[0])
    check([p.get("containerPort") for p in container.get("ports", [])] == [port],
          f"containerPort is the image's EXPOSE {port}")
    env = {e["name"]: e for e in container.get("env", [])}
    check(env.get("STROP_ADDR", {}).get("value") == df["env"].get("STROP_ADDR"),
          "STROP_ADDR as in the image")
    check("secretKeyRef" in env.get("DATABASE_URL", {}).get("valueFrom", {}),
          "DATABASE_URL comes from a Secret")
    check(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz"
          and container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz",
          "readiness /readyz, liveness /healthz")
    limits = container.get("resources", {}).get("limits", {})
    check("memory" in limits and "cpu" in limits,
          f"memory and CPU limits: {limits}")
    check("STROP_HASH_CONCURRENCY" in env,
          "STROP_HASH_CONCURRENCY set: the memory limit assumes it")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(grace > 30, f"termination grace {grace} s exceeds the server's 30 s drain")
    selector = deploy.get("spec", {}).get("selector", {}).get("matchLabels")
    labels = deploy.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
    check(bool(selector) and selector.items() <= labels.items(), "Deployment selects its pods")
    for kind in ("Service", "PodDisruptionBudget"):
        sel = docs.get(kind, {}).get("spec", {}).get("selector", {})
        sel = sel.get("matchLabels", sel)
        check(sel == selector, f"{kind} selects the Deployment's pods")
    hpa = docs.get("HorizontalPodAutoscaler", {}).get("spec", {})
    check(hpa.get("scaleTargetRef", {}).get("name") == deploy.get("metadata", {}).get("name"),
          "HorizontalPodAutoscaler scales the Deployment")
    check(hpa.get("minReplicas") == deploy.get("spec", {}).get("replicas") == 3,
          "3 replicas at rest")
    service = docs.get("Service", {}).get("spec", {})
    check([p.get("targetPort") for p in service.get("ports", [])]
          == [p.get("name") for p in container.get("ports", [])],
          "the Service targets the container's named port")


def apt_packages(command: str) -> list[str]:
    """The packages an `apt-get install` command line names (no options, no redirects)."""
    words = shlex.split(command.split(">")[0])
    rest = words[words.index("install") + 1:] if "install" in words else []
    return [w for w in rest if not w.startswith("-")]


def check_test_packages(test: dict) -> None:
    """The GitLab test job installs every package .ci/run installs for the tests."""
    ci_run = open(".ci/run", encoding="utf-8").read()
    wanted = [p for group in re.findall(r"need\+=\(([^)]*)\)", ci_run) for p in group.split()]
    installed = [p for line in test.get("script", []) if "apt-get install" in line
                 for p in apt_packages(line)]
    check(bool(wanted), f".ci/run installs packages for the tests: {wanted}")
    check(bool(installed), f"test job installs packages: {installed}")
    for package in wanted:
        check(package in installed,
              f"the GitLab test job installs {package}, as .ci/run does for the tests"
              if package in installed else
              f"the GitLab test job does not install {package}, which .ci/run installs for the"
              f" tests: add {package} to the test job's apt-get install line")


def check_doctest_rule(test: dict) -> None:
    """Doctests run whatever nextest says, and either failing fails the job."""
    script = [line.strip() for line in test.get("script", [])]
    nextest = [line for line in script if "cargo nextest run" in line]
    doc = [line for line in script if line.startswith("cargo test") and "--doc" in line]
    check(len(nextest) == 1 and len(doc) == 1 and script.index(nextest[0]) < script.index(doc[0]),
          "test job runs nextest, then the doctests")
    check(all(line.endswith("|| status=$?") for line in nextest + doc)
          and "status=0" in script and script[-1] == "exit $status",
          "test job: a failing nextest does not skip the doctests, and either failing fails the job"
          " (status=0; ... || status=$?; exit $status)")


def main() -> int:
    df = dockerfile_runtime()
    built = load("docker-compose.yaml")
    pulled = load("docker-compose-using-registry.yaml")
    ci = load(".gitlab-ci.yml")

    print("Dockerfile.server")
    check(all(":" in image and not image.endswith(":latest") for image in df["from"]),
          f"every base image pinned by tag: {df['from']}")
    check(df.get("user", "root").split(":")[0] not in ("root", "0", ""),
          f"runtime user is not root: {df.get('user')}")
    check(df.get("expose") == ["5000"], f"EXPOSE 5000: {df.get('expose')}")
    check(df.get("stopsignal") == "SIGTERM", f"STOPSIGNAL SIGTERM: {df.get('stopsignal')}")
    check(df["env"].get("STROP_ADDR") == "0.0.0.0:5000",
          f"image listens on 0.0.0.0:5000: STROP_ADDR={df['env'].get('STROP_ADDR')}")
    check(df.get("entrypoint") == [df.get("binary")],
          f"ENTRYPOINT runs the copied binary: {df.get('entrypoint')} / {df.get('binary')}")
    check(df.get("healthcheck") == [df.get("binary"), "healthcheck"],
          f"HEALTHCHECK runs `strop-server healthcheck` in exec form: {df.get('healthcheck')}")

    print("docker-compose.yaml")
    server = built["services"]["server"]
    db = built["services"]["db"]
    check(server.get("build", {}).get("dockerfile") == "Dockerfile.server",
          "server is built from Dockerfile.server")
    check("VERSION" in (server.get("build", {}).get("args") or {}),
          "server build passes the VERSION build arg")
    check(server.get("ports") == ["80:5000"], f"server ports 80:5000: {server.get('ports')}")
    check(server.get("healthcheck", {}).get("test") == ["CMD", *df.get("healthcheck", [])],
          "server healthcheck is the image's HEALTHCHECK command")
    check(server.get("depends_on", {}).get("db", {}).get("condition") == "service_healthy",
          "server waits for a healthy db")
    check(server.get("environment", {}).get("POSTGRES_HOST") == "db",
          "server's POSTGRES_HOST is the db service")
    check(server.get("environment", {}).get("STROP_ADDR") == df["env"].get("STROP_ADDR"),
          "server's STROP_ADDR matches the image's")
    check("env_file" not in server and "env_file" not in db,
          "no service requires a .env file (variables are interpolated)")
    db_env = db.get("environment", {})
    shared = ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD")
    check(all(db_env.get(k) and db_env.get(k) == server.get("environment", {}).get(k)
              for k in shared),
          "db and server get the same POSTGRES_DB, POSTGRES_USER and POSTGRES_PASSWORD")
    check(str(db.get("image", "")).startswith("postgres:16"), f"db image postgres:16: {db.get('image')}")
    check("pg_isready" in " ".join(db.get("healthcheck", {}).get("test", [])),
          "db healthcheck uses pg_isready")
    volumes = [v.split(":")[0] for v in db.get("volumes", [])]
    check(bool(volumes) and all(v in (built.get("volumes") or {}) for v in volumes),
          f"db data on a named volume: {volumes}")

    print("docker-compose-using-registry.yaml")
    pserver = pulled["services"]["server"]
    check("build" not in pserver and "${STROP_IMAGE" in str(pserver.get("image")),
          f"server runs the pushed image: {pserver.get('image')}")
    strip = lambda svc: {k: v for k, v in svc.items() if k not in ("build", "image", "pull_policy")}
    check(strip(pserver) == strip(server) and pulled["services"]["db"] == db
          and pulled.get("volumes") == built.get("volumes"),
          "otherwise identical to docker-compose.yaml")

    print("scale profile (both compose files, deploy/haproxy/haproxy.cfg)")
    check_scale(built, "docker-compose.yaml")
    check_scale(pulled, "docker-compose-using-registry.yaml")
    check(pulled["services"].get("lb") == built["services"].get("lb"),
          "lb is the same in both compose files")

    print("deploy/kubernetes")
    check_kubernetes(df, built["services"]["server"])

    print(".gitlab-ci.yml")
    stages = ci.get("stages", [])
    check(stages == ["lint", "build", "test", "dockerize", "verify"], f"stages: {stages}")
    jobs = {k: v for k, v in ci.items() if isinstance(v, dict) and k not in (
        "variables", "default", "workflow", "include", "stages")}
    for name, job in jobs.items():
        if name.startswith("."):
            continue
        for parent in ([job["extends"]] if isinstance(job.get("extends"), str)
                       else job.get("extends", [])):
            check(parent in jobs, f"{name}: extends {parent} which exists")
        check(job.get("stage") in stages, f"{name}: stage {job.get('stage')!r} is declared")
        for need in job.get("needs", []) or []:
            need = need["job"] if isinstance(need, dict) else need
            check(need in jobs, f"{name}: needs {need} which exists")
    images = [j["image"]["name"] if isinstance(j.get("image"), dict) else j.get("image")
              for j in jobs.values() if j.get("image")]
    check(all(":" in i and not i.endswith(":latest") for i in images),
          f"every job image pinned by tag: {images}")
    test = jobs.get("test", {})
    check(any(str(s.get("name", s) if isinstance(s, dict) else s).startswith("postgres:16")
              for s in test.get("services", [])), "test job has a postgres:16 service")
    check_test_packages(test)
    check_doctest_rule(test)
    tvars = test.get("variables", {})
    check(all(k in tvars for k in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD",
                                   "POSTGRES_HOST", "DATABASE_URL")),
          "test job sets POSTGRES_* and DATABASE_URL")
    junit = test.get("artifacts", {}).get("reports", {}).get("junit")
    check(junit == "target/nextest/ci/junit.xml", f"test job reports JUnit: {junit}")
    dockerize = " ".join(jobs.get("dockerize", {}).get("script", []))
    for needle in ("--cache=true", "${CI_REGISTRY_IMAGE}:${CI_COMMIT_SHORT_SHA}",
                   "${CI_REGISTRY_IMAGE}:${CI_COMMIT_TAG}", "${CI_REGISTRY_IMAGE}:latest",
                   "--build-arg \"VERSION=", "Dockerfile.server"):
        check(needle in dockerize, f"dockerize: {needle}")
    seed = jobs.get("seed-session", {})
    aliases = {s.get("alias"): s.get("name") for s in seed.get("services", []) if isinstance(s, dict)}
    check(aliases.get("strop") == "${CI_REGISTRY_IMAGE}:${CI_COMMIT_SHORT_SHA}",
          "seed-session runs the just-pushed image as service 'strop'")
    check(seed.get("variables", {}).get("POSTGRES_HOST") in aliases,
          "seed-session's POSTGRES_HOST is one of its services")
    check(any(".ci/seed_session.py" in line and "http://strop:5000" in line
              for line in seed.get("script", [])),
          "seed-session replays .ci/seed_session.py against the image")

    print()
    if findings:
        print(f"{len(findings)} consistency finding(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
