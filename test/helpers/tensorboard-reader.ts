// An independent reader of TensorBoard event files for the tests: protobufjs decoding TensorFlow's Event
// schema (written out below from event.proto / summary.proto) and the crc-32 package's CRC-32C; it checks
// both checksums of every record. It shares no code with src/util/tensorboard.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import CRC32C from 'crc-32/crc32c';
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package tensorboard;
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    bytes graph_def = 4;
    Summary summary = 5;
    SessionLog session_log = 6;
  }
}
message SessionLog {
  enum SessionStatus { STATUS_UNSPECIFIED = 0; START = 1; STOP = 2; CHECKPOINT = 3; }
  SessionStatus status = 1;
  string checkpoint_path = 2;
  string msg = 3;
}
message Summary {
  message Image {
    int32 height = 1;
    int32 width = 2;
    int32 colorspace = 3;
    bytes encoded_image_string = 4;
  }
  message Value {
    string node_name = 7;
    string tag = 1;
    SummaryMetadata metadata = 9;
    oneof value {
      float simple_value = 2;
      bytes obsolete_old_style_histogram = 3;
      Image image = 4;
      TensorProto tensor = 8;
    }
  }
  repeated Value value = 1;
}
message SummaryMetadata {
  message PluginData { string plugin_name = 1; bytes content = 2; }
  PluginData plugin_data = 1;
}
message TensorShapeProto {
  message Dim { int64 size = 1; string name = 2; }
  repeated Dim dim = 2;
}
message TensorProto {
  int32 dtype = 1;
  TensorShapeProto tensor_shape = 2;
  repeated bytes string_val = 8;
}
`;
const Event = protobuf.parse(SCHEMA).root.lookupType('tensorboard.Event');

const masked = (data: Uint8Array) => {
  const c = CRC32C.buf(data) >>> 0;
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
};

export interface Decoded {
  wallTime: number;
  step: number;
  fileVersion?: string;
  sessionLog?: { status: number };
  summary?: {
    value: {
      tag: string;
      simpleValue?: number;
      image?: { height: number; width: number; colorspace: number; encodedImageString: Uint8Array };
      metadata?: { pluginData: { pluginName: string } };
      tensor?: { dtype: number; tensorShape: { dim: { size: number }[] }; stringVal: Uint8Array[] };
    }[];
  };
}

export function readEvents(path: string): Decoded[] {
  const buf = readFileSync(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Decoded[] = [];
  let o = 0;
  while (o < buf.length) {
    const len = Number(view.getBigUint64(o, true));
    assert.equal(view.getUint32(o + 8, true), masked(buf.subarray(o, o + 8)), `length CRC of the record at ${o}`);
    const data = buf.subarray(o + 12, o + 12 + len);
    assert.equal(view.getUint32(o + 12 + len, true), masked(data), `data CRC of the record at ${o}`);
    const msg = Event.decode(data);
    out.push(Event.toObject(msg, { longs: Number, bytes: Uint8Array, defaults: false }) as Decoded);
    o += 12 + len + 4;
  }
  return out;
}

/** Every event of every event file in dir, file by file in name order. */
export function readEventDir(dir: string): Decoded[][] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('events.out.tfevents.'))
    .sort()
    .map((f) => readEvents(join(dir, f)));
}
