import type { PlistNode } from './plist-typed.js';

// Every key launchd.plist(5) documents, with the type it documents, so that a misspelt key, a key
// of the wrong type, or a key in the wrong kind of job fails a test.
//
// Source: launchd.plist(5), "XML PROPERTY LIST KEYS": the open-source launchd's man page
// (launchd-842, man/launchd.plist.5, also in freebsd/openlaunchd), and for what it lacks the page
// macOS ships (`man 5 launchd.plist`; e.g. https://keith.github.io/xcode-man-pages/launchd.plist.5.html):
// KeepAlive's `Crashed <boolean>`, `LimitLoadToSessionType <string or array of strings>`, which
// "only applies to jobs which are agents", and `UserName`/`GroupName`, which apply only in the
// privileged system domain (a LaunchAgent with UserName is refused: "UserName is not supported
// for non-System services").

export type Shape =
  | { t: 'string'; oneOf?: readonly string[] }
  | { t: 'boolean' }
  | { t: 'integer' }
  | { t: 'arrayOf'; of: Shape }
  /** A dictionary whose keys are free (paths, labels, names), each value of one shape. */
  | { t: 'dictOf'; of: Shape }
  /** A dictionary of documented keys only. */
  | { t: 'dict'; keys: Readonly<Record<string, Shape>> }
  | { t: 'anyOf'; shapes: readonly Shape[] };

const string: Shape = { t: 'string' };
const boolean: Shape = { t: 'boolean' };
const integer: Shape = { t: 'integer' };
const strings: Shape = { t: 'arrayOf', of: string };
const dict = (keys: Record<string, Shape>): Shape => ({ t: 'dict', keys });
const anyOf = (...shapes: Shape[]): Shape => ({ t: 'anyOf', shapes });

const resourceLimits = dict(Object.fromEntries(
  ['Core', 'CPU', 'Data', 'FileSize', 'MemoryLock', 'NumberOfFiles', 'NumberOfProcesses', 'ResidentSetSize', 'Stack'].map((k) => [k, integer]),
));
const calendarInterval = dict(Object.fromEntries(['Minute', 'Hour', 'Day', 'Weekday', 'Month'].map((k) => [k, integer])));
const socket = dict({
  SockType: { t: 'string', oneOf: ['stream', 'dgram', 'seqpacket'] },
  SockPassive: boolean,
  SockNodeName: string,
  SockServiceName: string,
  SockFamily: string,
  SockProtocol: string,
  SockPathName: string,
  SecureSocketWithKey: string,
  SockPathMode: integer,
  Bonjour: anyOf(boolean, string, strings),
  MulticastGroup: string,
});

export const LAUNCHD_KEYS: Readonly<Record<string, Shape>> = {
  Label: string,
  Disabled: boolean,
  UserName: string,
  GroupName: string,
  inetdCompatibility: dict({ Wait: boolean }),
  LimitLoadToHosts: strings,
  LimitLoadFromHosts: strings,
  LimitLoadToSessionType: anyOf(string, strings),
  Program: string,
  ProgramArguments: strings,
  EnableGlobbing: boolean,
  EnableTransactions: boolean,
  OnDemand: boolean,
  KeepAlive: anyOf(boolean, dict({
    SuccessfulExit: boolean,
    NetworkState: boolean,
    PathState: { t: 'dictOf', of: boolean },
    OtherJobEnabled: { t: 'dictOf', of: boolean },
    Crashed: boolean,
  })),
  RunAtLoad: boolean,
  RootDirectory: string,
  WorkingDirectory: string,
  EnvironmentVariables: { t: 'dictOf', of: string },
  Umask: integer,
  TimeOut: integer,
  ExitTimeOut: integer,
  ThrottleInterval: integer,
  InitGroups: boolean,
  WatchPaths: strings,
  QueueDirectories: strings,
  StartOnMount: boolean,
  StartInterval: integer,
  StartCalendarInterval: anyOf(calendarInterval, { t: 'arrayOf', of: calendarInterval }),
  StandardInPath: string,
  StandardOutPath: string,
  StandardErrorPath: string,
  Debug: boolean,
  WaitForDebugger: boolean,
  SoftResourceLimits: resourceLimits,
  HardResourceLimits: resourceLimits,
  Nice: integer,
  ProcessType: { t: 'string', oneOf: ['Background', 'Standard', 'Adaptive', 'Interactive'] },
  LegacyTimers: boolean,
  AbandonProcessGroup: boolean,
  LowPriorityIO: boolean,
  LaunchOnlyOnce: boolean,
  MachServices: { t: 'dictOf', of: anyOf(boolean, dict({ ResetAtClose: boolean, HideUntilCheckIn: boolean })) },
  Sockets: { t: 'dictOf', of: anyOf(socket, { t: 'arrayOf', of: socket }) },
};

const AGENT_ONLY = ['LimitLoadToSessionType'];
const DAEMON_ONLY = ['UserName', 'GroupName'];

function describeNode(node: PlistNode): string {
  return node.type === 'string' ? `string ${JSON.stringify(node.value)}` : node.type;
}

function describeShape(shape: Shape): string {
  switch (shape.t) {
    case 'arrayOf': return `array of ${describeShape(shape.of)}`;
    case 'dictOf': return `dictionary of ${describeShape(shape.of)}`;
    case 'dict': return 'dictionary';
    case 'anyOf': return shape.shapes.map(describeShape).join(' or ');
    case 'string': return shape.oneOf ? `one of ${shape.oneOf.join(', ')}` : 'string';
    default: return shape.t;
  }
}

/** The problems of one value against a shape, each prefixed with its key path. */
function check(node: PlistNode, shape: Shape, at: string): string[] {
  const wrong = [`${at}: expected ${describeShape(shape)}, found ${describeNode(node)}`];
  switch (shape.t) {
    case 'string':
      return node.type === 'string' && (!shape.oneOf || shape.oneOf.includes(node.value)) ? [] : wrong;
    case 'boolean':
      return node.type === 'boolean' ? [] : wrong;
    case 'integer':
      return node.type === 'integer' && /^[+-]?\d+$/.test(node.value.trim()) ? [] : wrong;
    case 'arrayOf':
      return node.type === 'array' ? node.items.flatMap((item, i) => check(item, shape.of, `${at}[${i}]`)) : wrong;
    case 'dictOf':
    case 'dict':
      if (node.type !== 'dict') return wrong;
      return [...duplicates(node, at), ...node.entries.flatMap(([key, value]) => {
        const inner = shape.t === 'dictOf' ? shape.of : shape.keys[key];
        return inner ? check(value, inner, `${at}.${key}`) : [`${at}.${key}: not a key launchd.plist(5) documents here`];
      })];
    case 'anyOf': {
      if (shape.shapes.some((s) => check(node, s, at).length === 0)) return [];
      // A value of the right kind with something wrong inside (a misspelt key in KeepAlive's
      // dictionary): say what is wrong inside.
      const sameKind = shape.shapes.filter((s) => kindOf(s) === node.type);
      return sameKind.length === 1 ? check(node, sameKind[0]!, at) : wrong;
    }
  }
}

/** The plist element type a shape takes. */
function kindOf(shape: Shape): string {
  switch (shape.t) {
    case 'arrayOf': return 'array';
    case 'dictOf':
    case 'dict': return 'dict';
    case 'anyOf': return 'any';
    default: return shape.t;
  }
}

function duplicates(node: Extract<PlistNode, { type: 'dict' }>, at: string): string[] {
  const seen = new Set<string>();
  return node.entries.flatMap(([key]) => {
    if (!seen.has(key)) {
      seen.add(key);
      return [];
    }
    return [`${at}.${key}: given twice`];
  });
}

/**
 * The problems of a job's property list against launchd.plist(5): unknown keys, values of the
 * wrong type, keys the kind of job cannot have, and the required Label and ProgramArguments.
 * Empty when there are none.
 */
export function launchdProblems(plist: PlistNode, kind: 'agent' | 'daemon'): string[] {
  if (plist.type !== 'dict') return [`the top level is ${plist.type}, not a dictionary`];
  const problems = check(plist, { t: 'dict', keys: LAUNCHD_KEYS }, 'job');
  const keys = new Set(plist.entries.map(([key]) => key));
  if (!keys.has('Label')) problems.push('job.Label: missing (required)');
  if (!keys.has('ProgramArguments') && !keys.has('Program')) problems.push('job: neither Program nor ProgramArguments');
  for (const key of kind === 'agent' ? DAEMON_ONLY : AGENT_ONLY) {
    if (keys.has(key)) problems.push(`job.${key}: only for ${kind === 'agent' ? 'daemons (the system domain)' : 'agents'}, and this is a ${kind}`);
  }
  return problems;
}
