"""Runs a command once and prints its wall time (s) and peak resident memory
(kB) as `SECONDS KB`; the exit status is the command's. Used by `cargo xtask
bench` to measure runiam and its Python peers the same way.
"""
import resource
import subprocess
import sys
import time

started = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
elapsed = time.perf_counter() - started
print(f"{elapsed:.6f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
sys.exit(done.returncode)
