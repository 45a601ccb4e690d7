/**
 * Scale-out UsageLog: a NATS JetStream stream.
 *
 * Gateway nodes publish each event with `Nats-Msg-Id: <source>/<id>`; the server drops a second
 * copy seen within the duplicate window, so a retried publish (after a timeout, a reconnect, a
 * restarted node replaying) never stores an event twice. `append` resolves only after every
 * event's PubAck, i.e. once the event is in the stream's file storage: the gateway finishes the
 * client's response after that, so a response received in full is never missing from metering.
 *
 * Worker processes read the stream with one durable pull consumer (shared: several workers split
 * the messages), hand batches to metering's idempotent batch writer and ack after it committed.
 * A crash between commit and ack redelivers the batch; the writer's (source, id) dedupe drops it.
 *
 * The parts live in their own files (options, connection, publisher, usage log, consumer, status);
 * this module gathers them so callers import from one place.
 */
export {
  ensureUsageConsumer,
  type JetStreamConsumer,
  type JetStreamConsumerOptions,
  startJetStreamConsumer,
  USAGE_ACK_WAIT_MS,
  type UsageBatchWriter,
} from './jetstream-consumer.ts';
export {
  DEFAULT_USAGE_CONSUMER,
  DEFAULT_USAGE_STREAM,
  DEFAULT_USAGE_SUBJECT,
  type JetStreamOptions,
} from './jetstream-options.ts';
export {
  type JetStreamUsageLog,
  type JetStreamUsageLogOptions,
  openJetStreamUsageLog,
  usageMessageId,
} from './jetstream-usage-log.ts';
export { connectNats } from './nats-connection.ts';
export {
  streamPressure,
  type UsageStreamStatus,
  usageStreamLag,
  usageStreamStatus,
} from './usage-stream-status.ts';
