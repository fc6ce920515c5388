import { Controller, Get, Header, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { CurrentUser } from '../auth/current-user.decorator';
import { outputUrlExample } from '../openapi/examples';
import { TasksService } from './tasks.service';

@ApiTags('tasks')
@Controller('api/v2/tasks')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  @Get(':taskId/output-url')
  @ApiOperation({ summary: "Signed URL (8 h) of the task's output mask" })
  @ApiOkResponse({ schema: { example: outputUrlExample } })
  outputUrl(@Param('taskId') taskId: string, @CurrentUser() user: string) {
    return this.tasks.outputUrl(taskId, user);
  }

  @Get(':taskId/logs/:stepId')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({ summary: "The step's log (every attempt) as text" })
  @ApiProduces('text/plain')
  logs(@Param('taskId') taskId: string, @Param('stepId') stepId: string, @CurrentUser() user: string): Promise<string> {
    return this.tasks.stepLog(taskId, stepId, user);
  }
}
