#!/usr/bin/env python3
"""Capture QEMU's `query-pci` reply for one xtask profile (test data for qmp.rs).

Usage, from the repository root, with the kernel built (`cargo xtask build`):

    python3 xtask/tests/data/capture_query_pci.py standard > xtask/tests/data/query-pci-standard.json

Boots `cargo xtask qemu-cmd --profile <profile>` with the serial console in a
file and QMP on a unix socket, waits for the shell prompt (the firmware has
assigned whatever it assigns by then), runs `query-pci` and prints QEMU's reply
as it came, pretty-printed. Everything is bounded; QEMU is always killed.
"""

import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time

PROMPT = b"ioxide> "


def main():
    profile = sys.argv[1] if len(sys.argv) > 1 else "standard"
    cmd = subprocess.run(
        ["cargo", "xtask", "qemu-cmd", "--profile", profile],
        check=True, capture_output=True, text=True, timeout=300,
    ).stdout.strip().splitlines()[-1]
    args = shlex.split(cmd)
    with tempfile.TemporaryDirectory(prefix="ioxide-capture-") as tmp:
        serial = os.path.join(tmp, "serial.txt")
        sock = os.path.join(tmp, "qmp.sock")
        # Free ports of our own so a running `cargo xtask run` is not disturbed.
        args = [a.replace("port=4000", "port=4700") for a in args]
        args[args.index("-serial") + 1] = "file:" + serial
        args += ["-qmp", "unix:%s,server=on,wait=off" % sock]
        qemu = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while not (os.path.exists(serial) and PROMPT in open(serial, "rb").read()):
                if time.time() > deadline or qemu.poll() is not None:
                    sys.exit("no prompt within 30 s")
                time.sleep(0.05)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(sock)
            f = s.makefile("rwb")

            def reply():
                while True:
                    msg = json.loads(f.readline())
                    if "event" not in msg:
                        return msg

            reply()  # greeting
            for command in ["qmp_capabilities", "query-pci"]:
                f.write(json.dumps({"execute": command}).encode() + b"\n")
                f.flush()
                msg = reply()
            print(json.dumps(msg, indent=1))
        finally:
            qemu.kill()
            qemu.wait()


if __name__ == "__main__":
    main()
