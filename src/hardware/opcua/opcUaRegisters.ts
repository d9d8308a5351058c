import {
  AccessLevelFlag,
  AttributeIds,
  type ClientSession,
  type DataType,
  type DataValue,
  type NodeId,
  NodeIdType,
  resolveNodeId,
  VariableIds,
} from 'node-opcua';
import { HardwareConfigurationError } from '../errors.ts';
import { canRead, canWrite, type HardwareRegister } from '../register.ts';
import { classifyStatusCode, statusError, toLayerError } from './statusCodes.ts';
import { dataTypeName, isSupportedDataType } from './values.ts';

/**
 * A register of an OPC UA server: a variable node, by node id. Either `ns=<index>;<id>` or, better (the
 * index can change when the server's configuration does), `nsu=<namespace URI>;<id>`, with `<id>` one of
 * `i=<number>`, `s=<string>`, `g=<guid>`, `b=<base64>`.
 */
export interface OpcUaRegister extends HardwareRegister {
  readonly nodeId: string;
}

/** A register checked against the server: its node id there and the built-in type of its value. */
export interface BoundRegister {
  readonly register: OpcUaRegister;
  readonly nodeId: NodeId;
  readonly dataType: DataType;
}

/** Per register: bound, or what is wrong with it. */
export type RegisterBindings = ReadonlyMap<string, BoundRegister | HardwareConfigurationError>;

const NSU = /^nsu=([^;]*);(.+)$/s;

/** Checks a register's node id is well formed (it does not ask the server); a bad one is a configuration error. */
export function checkNodeIdSyntax(register: OpcUaRegister): void {
  if (typeof register.nodeId !== 'string' || register.nodeId.trim() === '')
    throw new HardwareConfigurationError(`register '${register.name}' has no node id`, [register.name]);
  const nsu = NSU.exec(register.nodeId);
  try {
    if (nsu) resolveNodeId(register.nodeId, { namespaceArray: ['', nsu[1]!] });
    else resolveNodeId(register.nodeId);
  } catch (error) {
    throw new HardwareConfigurationError(
      `register '${register.name}': '${register.nodeId}' is not an OPC UA node id (${(error as Error).message})`,
      [register.name],
      'BadNodeIdInvalid',
    );
  }
}

/**
 * Checks every register against the server, in two batched reads at most (the namespace table when a
 * node id names its namespace by URI, then the DataType and UserAccessLevel of every node): the node
 * exists, the signed-in user may read (or write) it as the register's direction says, and its type is
 * one a `HardwareValue` maps to. A problem with one register is a `HardwareConfigurationError` for that
 * register; a failure of the calls themselves (the link) rejects.
 */
export async function bindRegisters(
  session: ClientSession,
  registers: readonly OpcUaRegister[],
): Promise<RegisterBindings> {
  const bindings = new Map<string, BoundRegister | HardwareConfigurationError>();
  const namespaceArray = registers.some((r) => NSU.test(r.nodeId)) ? await readNamespaceArray(session) : [];
  const resolved: Array<{ register: OpcUaRegister; nodeId: NodeId }> = [];
  for (const register of registers) {
    try {
      resolved.push({ register, nodeId: resolveNodeId(register.nodeId, { namespaceArray }) });
    } catch {
      const uri = NSU.exec(register.nodeId)?.[1];
      bindings.set(
        register.name,
        new HardwareConfigurationError(
          `register '${register.name}': the server has no namespace '${uri}' (node id ${register.nodeId})`,
          [register.name],
          'BadNodeIdUnknown',
        ),
      );
    }
  }
  const attributes = await readOrFault(
    session,
    resolved.flatMap(({ nodeId }) => [
      { nodeId, attributeId: AttributeIds.DataType },
      { nodeId, attributeId: AttributeIds.UserAccessLevel },
    ]),
    resolved.map(({ register }) => register.name),
  );
  for (const [i, { register, nodeId }] of resolved.entries()) {
    const dataTypeValue = attributes[2 * i]!;
    const accessValue = attributes[2 * i + 1]!;
    const problem = attributeProblem(register, dataTypeValue) ?? attributeProblem(register, accessValue);
    if (problem) {
      bindings.set(register.name, problem);
      continue;
    }
    const dataType = await builtInType(session, dataTypeValue.value.value as NodeId, register);
    const refusal =
      accessProblem(register, Number(accessValue.value.value)) ?? typeProblem(register, dataType);
    bindings.set(register.name, refusal ?? { register, nodeId, dataType });
  }
  return bindings;
}

async function readNamespaceArray(session: ClientSession): Promise<string[]> {
  const [value] = await readOrFault(
    session,
    [{ nodeId: resolveNodeId(VariableIds.Server_NamespaceArray), attributeId: AttributeIds.Value }],
    [],
  );
  return (value?.value.value as string[] | null) ?? [];
}

async function readOrFault(
  session: ClientSession,
  nodesToRead: Array<{ nodeId: NodeId; attributeId: AttributeIds }>,
  registers: readonly string[],
): Promise<DataValue[]> {
  if (nodesToRead.length === 0) return [];
  try {
    return await session.read(nodesToRead);
  } catch (error) {
    throw toLayerError(error, 'OPC UA: checking the registers failed', registers);
  }
}

/** A Bad status on an attribute: a configuration error for the register, or a fault of the whole check. */
function attributeProblem(register: OpcUaRegister, value: DataValue): HardwareConfigurationError | undefined {
  const kind = classifyStatusCode(value.statusCode);
  if (kind === 'good') return undefined;
  const error = statusError(value.statusCode, `register '${register.name}' (${register.nodeId})`, [
    register.name,
  ]);
  if (error instanceof HardwareConfigurationError) return error;
  throw error;
}

async function builtInType(session: ClientSession, typeId: NodeId, register: OpcUaRegister) {
  // The built-in types are ns=0;i=1..25; anything else (an enumeration, a subtype) is looked up.
  if (typeId.namespace === 0 && typeId.identifierType === NodeIdType.NUMERIC && Number(typeId.value) <= 25)
    return Number(typeId.value) as DataType;
  try {
    return await session.getBuiltInDataType(typeId);
  } catch (error) {
    throw toLayerError(error, `OPC UA: looking up the type of register '${register.name}' failed`, [
      register.name,
    ]);
  }
}

function accessProblem(register: OpcUaRegister, access: number): HardwareConfigurationError | undefined {
  const missing = [
    canRead(register) && !(access & AccessLevelFlag.CurrentRead) ? 'read' : undefined,
    canWrite(register) && !(access & AccessLevelFlag.CurrentWrite) ? 'written' : undefined,
  ].filter((what) => what !== undefined);
  if (missing.length === 0) return undefined;
  return new HardwareConfigurationError(
    `register '${register.name}' (${register.nodeId}) is ${register.direction} but the server does not let it be ${missing.join(' or ')}`,
    [register.name],
    missing.includes('read') ? 'BadNotReadable' : 'BadNotWritable',
  );
}

function typeProblem(register: OpcUaRegister, dataType: DataType): HardwareConfigurationError | undefined {
  if (isSupportedDataType(dataType)) return undefined;
  return new HardwareConfigurationError(
    `register '${register.name}' (${register.nodeId}) holds a ${dataTypeName(dataType)}, which has no HardwareValue (numbers up to 32-bit integers, Float, Double, Boolean, String, DateTime)`,
    [register.name],
    'BadTypeMismatch',
  );
}
