/**
 * Test file order: vitest's own (failed and slow files first), except that the suite-wide
 * secret scan runs after every other e2e file, when their processes and logs are complete.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SCAN_FILE = 'test/e2e/suite-secret-scan.test.ts';

const isScan = (spec: TestSpecification): boolean => spec.moduleId.replaceAll('\\', '/').endsWith(`/${SCAN_FILE}`);

export class ScanLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return [...sorted.filter((f) => !isScan(f)), ...sorted.filter(isScan)];
  }
}
