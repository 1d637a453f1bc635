"""Checks that the minimum Rust version Cargo.toml states (`rust-version`) is the true one: the
highest that any locked dependency of the function declares. A `cargo update` that raises a
dependency's own minimum fails this check until Cargo.toml (and the README) say so too.

    python3 scripts/msrv.py    # exit 1, naming the package, when the stated minimum is too low
"""
import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split("."))


def main():
    host = next(line.split(": ")[1] for line in
                subprocess.check_output(["rustc", "-vV"], text=True).splitlines()
                if line.startswith("host: "))
    metadata = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host]))
    packages = {package["id"]: package for package in metadata["packages"]}
    nodes = {node["id"]: node for node in metadata["resolve"]["nodes"]}
    root = next(p for p in metadata["packages"] if p["name"] == "del-job")
    # What the function's binary is built from: normal and build dependencies, not dev ones.
    seen, stack = set(), [root["id"]]
    while stack:
        for dep in nodes[stack.pop()]["deps"]:
            kinds = {kind["kind"] for kind in dep["dep_kinds"]}
            if kinds != {"dev"} and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
    declared = [(version(packages[p]["rust_version"]), packages[p]["name"], packages[p]["version"])
                for p in seen if packages[p].get("rust_version")]
    needed, name, at = max(declared)
    stated = root.get("rust_version")
    needed_text = ".".join(map(str, needed))
    if stated is None or version(stated) < needed:
        print(f"Cargo.toml states rust-version {stated}, but {name} {at} needs {needed_text}: "
              f"state {needed_text} (and the README's prerequisites)", file=sys.stderr)
        return 1
    print(f"rust-version {stated}: the highest a locked dependency needs is {needed_text} "
          f"({name} {at})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
