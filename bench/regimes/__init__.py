"""One module per regime of the benchmark (sizes, write_limit, million, garage, cold), each with
measure(bench, ...), which runs its cases and returns their results, and report(...), which turns
those into its section of the report and adds its rows to the targets."""
