import t from 'tap'
import { fail } from '../protocol/errors.js'
t.test('errors carry codes and values', async (t) => {
  t.throws(() => fail('E_X', 'bad', { a: 1n }), { code: 'E_X', message: 'bad a=1' })
})
