// Exit 0 when the Kafka broker answers a metadata request, 1 otherwise.
// Usage: node scripts/rig/kafka-ready.mjs HOST:PORT
import { Kafka, logLevel } from 'kafkajs';

const admin = new Kafka({
  clientId: 'ferry-rig',
  brokers: [process.argv[2] ?? '127.0.0.1:19092'],
  logLevel: logLevel.NOTHING,
  retry: { retries: 0 },
  connectionTimeout: 1000,
  requestTimeout: 3000,
}).admin();
const timer = setTimeout(() => process.exit(1), 5000);
try {
  await admin.connect();
  const { brokers, controller } = await admin.describeCluster();
  await admin.disconnect();
  process.exit(brokers.length > 0 && controller !== null ? 0 : 1);
} catch {
  clearTimeout(timer);
  process.exit(1);
}
