"""LocalStack plugins for del-job's stack stage (scripts/stack_test.sh).

- `LocalExecutorPlugin` (executor.py): LocalStack community runs Lambda functions only in docker,
  which these machines lack; this executor runs a function's `bootstrap` as a local process.
- `s3.conditional_delete_object`: DeleteObject with If-Match, which del-job relies on and
  LocalStack answers NotImplemented.

LocalStack imports this module while it enumerates plugins, so it stays small and imports the
executor (and with it LocalStack's Lambda internals) only in load(), as LocalStack's own
DockerRuntimeExecutorPlugin does.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class LocalExecutorPlugin(RuntimeExecutorPlugin):
    name = "local"  # selected with LAMBDA_RUNTIME_EXECUTOR=local

    def load(self, *args, **kwargs):
        from del_job_localstack.executor import LocalProcessExecutor

        return LocalProcessExecutor
