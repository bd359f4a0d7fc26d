// A worker of the fork pool bench/pool.mjs compares with: answers each
// [id, fn, args] message with [id, result] over process.send. Also the
// process that spins on a core beside an idle pool (spin).
import { add, countPrimes, spin } from './pool-tasks.mjs';

const functions = { add, countPrimes, spin };
process.on('message', ([id, fn, args]) => process.send([id, functions[fn](...args)]));
