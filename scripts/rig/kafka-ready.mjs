// Exit 0 when the broker answers a metadata request. Usage: node kafka-ready.mjs HOST:PORT
import { Kafka, logLevel } from 'kafkajs';
const admin = new Kafka({ clientId: 'ferry-rig', brokers: [process.argv[2]], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1000 }).admin();
try {
  await admin.connect();
  await admin.describeCluster();
  await admin.disconnect();
  process.exit(0);
} catch {
  process.exit(1);
}
