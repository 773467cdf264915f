// capstream-as: write capstream tools in AssemblyScript. See README.md.

export { register, capstream_manifest, capstream_run, input, setOutput, setError, Run } from "./assembly/tool";
export { Call, HostError, Result, Level, HTTPRequest, HTTPResponse } from "./assembly/call";
export { Value, Kind, JSON, Parser, Writer, MAX_DEPTH } from "./assembly/json";
export { randomBytes, now } from "./assembly/runtime";
export { DENIED, NOT_FOUND, INVALID, QUOTA, UPSTREAM, TOO_LARGE, STORAGE, errorName } from "./assembly/abi";
import * as abi from "./assembly/abi";
export { abi };
