/** The server-side assignors, by the name a group configures. */
import { ASSIGNOR_NAMES, type Assignor, type AssignorName } from './assignor.js';
import { rangeAssignor } from './range.js';
import { uniformAssignor } from './uniform.js';

export {
  ASSIGNOR_NAMES,
  type Assignor,
  type AssignorInput,
  type AssignorMember,
  type AssignorName,
  type AssignorOutput,
  type TopicPartitionsMap,
} from './assignor.js';
export { rangeAssignor } from './range.js';
export { uniformAssignor } from './uniform.js';

// A Record over AssignorName: adding a name to ASSIGNOR_NAMES without an assignor fails to compile.
const ASSIGNORS: Readonly<Record<AssignorName, Assignor>> = { uniform: uniformAssignor, range: rangeAssignor };

function isAssignorName(name: string): name is AssignorName {
  return (ASSIGNOR_NAMES as readonly string[]).includes(name);
}

/** The assignor called `name`, or undefined for a name Runnel does not know. */
export function assignorByName(name: string): Assignor | undefined {
  return isAssignorName(name) ? ASSIGNORS[name] : undefined;
}
