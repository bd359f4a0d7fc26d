// A task module as a consumer writes it, for consumer.ts's typed Pool.
export function add(a: number, b: number): number {
  return a + b;
}

export async function greet(name: string): Promise<string> {
  return `hello ${name}`;
}

export const version = 3;
