/**
 * What a server-side assignor sees and returns (KIP-848: the coordinator, not a group leader,
 * computes the target assignment). Pure functions of their input: no clock, no I/O, and the
 * same input always gives the same output, so every broker computing a group's assignment
 * would agree, and tests can check properties over random groups.
 */

/** Partition numbers by topic name; each list ascending, no duplicates. */
export type TopicPartitionsMap = ReadonlyMap<string, readonly number[]>;

export interface AssignorMember {
  readonly memberId: string;
  /** Static membership id, or null. Range orders members by it when set (stable across restarts). */
  readonly instanceId: string | null;
  /** Topic names this member subscribes to (may name topics that do not exist). */
  readonly subscribedTopics: readonly string[];
}

export interface AssignorInput {
  /** Every member of the group, in no particular order; member ids are unique. */
  readonly members: readonly AssignorMember[];
  /** Partition count of every existing topic that some member subscribes to. */
  readonly topicPartitionCounts: ReadonlyMap<string, number>;
  /**
   * The previous target assignment by member id (members that left are absent or ignored;
   * partitions that no longer exist or are no longer subscribed by their member are ignored).
   */
  readonly previous: ReadonlyMap<string, TopicPartitionsMap>;
}

/**
 * The target assignment: an entry for every member in the input (possibly empty). Every
 * partition of every topic in `topicPartitionCounts` that at least one member subscribes to is
 * assigned to exactly one member that subscribes to its topic; nothing else is assigned.
 */
export type AssignorOutput = Map<string, Map<string, number[]>>;

export interface Assignor {
  readonly name: AssignorName;
  assign(input: AssignorInput): AssignorOutput;
}

export const ASSIGNOR_NAMES = ['uniform', 'range'] as const;
export type AssignorName = (typeof ASSIGNOR_NAMES)[number];
