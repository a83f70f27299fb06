# SPDX-License-Identifier: BSD-3-Clause
"""Stopping what the integration tests start, as an operator stops rstscope: SIGTERM, then
SIGKILL if it has not ended in time, so no test leaves a process behind."""
import signal
import subprocess


def stop(proc, timeout=20):
    """Stops `proc` (a subprocess.Popen): SIGTERM unless it has ended, then SIGKILL after
    `timeout` seconds. Returns (stdout, stderr, ended_on_sigterm); the outputs are None where they
    were not piped."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=timeout)
        return out, err, True
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return out, err, False
