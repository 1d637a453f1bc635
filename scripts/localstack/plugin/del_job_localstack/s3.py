"""S3's conditional delete, DeleteObject with If-Match, in LocalStack.

del-job deletes a job's record last, and, once the deletion was handed on, only if the record is
still the one it marked (If-Match on that ETag), so that a record rewritten meanwhile survives.
S3 general purpose buckets honour If-Match on DeleteObject; LocalStack 2026.3.0 answers
NotImplemented (it says only directory buckets have it), which fails every deletion that was
handed on at its last step. This applies S3's rule first: the current object must have that ETag
(412 PreconditionFailed otherwise, 404 NoSuchKey when there is none), then deletes as LocalStack
does. The check and the delete are not atomic, as they are in S3: enough for tests that do not
race writers against the delete.
"""

from localstack.runtime import hooks


@hooks.on_infra_start()
def conditional_delete_object():
    from localstack.services.s3.provider import (
        S3Provider,
        verify_object_equality_precondition_write,
    )
    from localstack.utils.patch import patch

    @patch(S3Provider.delete_object)
    def delete_object(fn, self, context, bucket, key, *args, if_match=None, **kwargs):
        if if_match:
            _, s3_bucket = self._get_cross_account_bucket(context, bucket)
            # The check PutObject's If-Match makes: NoSuchKey, PreconditionFailed.
            verify_object_equality_precondition_write(s3_bucket, key, if_match)
        return fn(self, context, bucket, key, *args, **kwargs)
