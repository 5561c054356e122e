// Create the test bucket if it is missing (idempotent; retries while MinIO settles).
// Usage: node scripts/rig/make-bucket.mjs ENDPOINT ACCESS_KEY SECRET_KEY BUCKET
import { S3Client, CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';

const [endpoint, accessKeyId, secretAccessKey, bucket] = process.argv.slice(2);
if (!bucket) {
  console.error('usage: make-bucket.mjs ENDPOINT ACCESS_KEY SECRET_KEY BUCKET');
  process.exit(2);
}
const s3 = new S3Client({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId, secretAccessKey },
});
/**
 * What an AWS SDK error carries; whatever else may be thrown (a network error) is read through
 * optional chaining, so a missing field is just undefined.
 * @typedef {{ name?: string, message?: string, $metadata?: { httpStatusCode?: number } } | null | undefined} SdkError
 */
/** @type {SdkError} */
let last;
for (let attempt = 0; attempt < 20; attempt++) {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    process.exit(0);
  } catch (caught) {
    const err = /** @type {SdkError} */ (caught);
    last = err;
    const status = err?.$metadata?.httpStatusCode;
    if (status === 404) {
      try {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
        process.exit(0);
      } catch (caught2) {
        const e = /** @type {SdkError} */ (caught2);
        if (e?.name === 'BucketAlreadyOwnedByYou') process.exit(0);
        last = e;
      }
    } else if (status === 403) {
      console.error(
        `make-bucket: access denied for ${accessKeyId} at ${endpoint}: wrong credentials?`,
      );
      process.exit(1);
    }
  }
  await new Promise((r) => setTimeout(r, 250));
}
console.error(
  `make-bucket: could not create ${bucket} at ${endpoint}: ${last?.name ?? ''} ${last?.message ?? last}`,
);
process.exit(1);
