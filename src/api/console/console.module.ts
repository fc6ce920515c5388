import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller';

/** The web console at / (see console.controller.ts). Registered last: its routes are the catch-alls of pages. */
@Module({ controllers: [ConsoleController] })
export class ConsoleModule {}
