# Sourced by the bench scripts that measure a process under wrk: its CPU time and wrk's latencies.
# cpu_ticks PID: the process's utime + stime, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# to_ms LATENCY: wrk's "812.00us" / "2.10ms" / "1.02s" in milliseconds.
to_ms() { case $1 in *us) echo "${1%us} / 1000" | bc -l;; *ms) echo "${1%ms}";; *s) echo "${1%s} * 1000" | bc -l;; esac; }
