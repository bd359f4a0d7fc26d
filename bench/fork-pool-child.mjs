// A worker of the fork pool bench/pool.mjs compares with: answers each
// [id, fn, args] message with [id, result] over process.send.
import { add, countPrimes } from './pool-tasks.mjs';

const functions = { add, countPrimes };
process.on('message', ([id, fn, args]) => process.send([id, functions[fn](...args)]));
