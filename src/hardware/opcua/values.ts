import { DataType, type Variant, type VariantOptions } from 'node-opcua';
import type { HardwareValue } from '../register.ts';

/** The OPC UA built-in types a `HardwareValue` maps to (64-bit integers, arrays and structures do not). */
const INTEGER_RANGES: Partial<Record<DataType, readonly [number, number]>> = {
  [DataType.SByte]: [-128, 127],
  [DataType.Byte]: [0, 255],
  [DataType.Int16]: [-32_768, 32_767],
  [DataType.UInt16]: [0, 65_535],
  [DataType.Int32]: [-2_147_483_648, 2_147_483_647],
  [DataType.UInt32]: [0, 4_294_967_295],
};

const SUPPORTED = new Set<DataType>([
  DataType.Boolean,
  DataType.Float,
  DataType.Double,
  DataType.String,
  DataType.DateTime,
  ...(Object.keys(INTEGER_RANGES).map(Number) as DataType[]),
]);

export function isSupportedDataType(dataType: DataType): boolean {
  return SUPPORTED.has(dataType);
}

export function dataTypeName(dataType: DataType): string {
  return DataType[dataType] ?? `DataType ${dataType}`;
}

/**
 * A read value as a `HardwareValue`: numbers, booleans and strings as they are, a DateTime as
 * milliseconds since the epoch, an empty value as null. Undefined for values it cannot represent.
 */
export function fromVariant(variant: Variant): HardwareValue | undefined {
  if (variant.arrayType !== undefined && variant.arrayType !== 0) return undefined;
  const value: unknown = variant.value;
  if (value === null || value === undefined || variant.dataType === DataType.Null) return null;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return value;
  if (value instanceof Date) return value.getTime();
  return undefined;
}

/**
 * The variant to write `value` to a node of built-in type `dataType`. Throws a TypeError (a bug of the
 * caller, never masked) for a value the type cannot hold: a string for a Double, 1.5 or 300 for a Byte.
 */
export function toVariant(value: HardwareValue, dataType: DataType, register: string): VariantOptions {
  const refuse = (why: string) =>
    new TypeError(`cannot write ${JSON.stringify(value)} to register '${register}': ${why}`);
  if (value === null) throw refuse('OPC UA nodes take no null');
  switch (dataType) {
    case DataType.Boolean:
      if (typeof value !== 'boolean') throw refuse('its node holds a Boolean');
      return { dataType, value };
    case DataType.String:
      if (typeof value !== 'string') throw refuse('its node holds a String');
      return { dataType, value };
    case DataType.DateTime:
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw refuse('its node holds a DateTime (milliseconds since the epoch)');
      return { dataType, value: new Date(value) };
    case DataType.Float:
    case DataType.Double:
      if (typeof value !== 'number') throw refuse(`its node holds a ${dataTypeName(dataType)}`);
      return { dataType, value };
    default: {
      const range = INTEGER_RANGES[dataType];
      if (!range) throw refuse(`its node's type ${dataTypeName(dataType)} is not supported`);
      if (typeof value !== 'number' || !Number.isInteger(value) || value < range[0] || value > range[1])
        throw refuse(`its node holds an ${dataTypeName(dataType)} (${range[0]} to ${range[1]})`);
      return { dataType, value };
    }
  }
}
