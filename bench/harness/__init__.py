"""What the benchmark's regimes share: common (paths, the job, log and run), store (Garage and
benchkit), proxy (s3-proxy), box (Lambda-sized cgroups), runtime (the Lambda runtime API
stand-in), events (what the function is sent), process (timing a tool and its peak memory),
bench (the tools under test and the rounds that run them) and report (the report's helpers and
the generated block of BENCHMARKS.md)."""
