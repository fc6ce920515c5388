/** Where domain code writes the lines of a step's log (the activities' StepLog is one). */
export interface StepLogger {
  info(message: string): void;
  error(message: string): void;
}
